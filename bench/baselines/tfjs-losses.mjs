// The three losses of docs/spec.md composed from TF.js ops, with value
// and gradient from TF.js autograd, on the tfjs-backend-wasm backend. This is
// the "TF.js wasm" column of the benchmark (docs/benchmarks.md), and it is
// checked against the golden files by bench/check-comparisons.mjs.
//
//   await initTF()
//   ceTF({ logits, target, shape, weight?, ignoreIndex? })                      -> { loss, grad }
//   patchContrastTF({ features, mask, shape, patchSize, temperature, variant })  -> { loss, grad }
//   infoNCETF({ features, mask, shape, temperature, positive, sample? })         -> { loss, grad }
//
// TF.js computes in float32, so results match the float64 golden values to
// float32 accuracy only (docs/spec.md §8, float32 row).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { registerTfjsGradients } from '../../support/tfjs-gradients.mjs';

// tfjs-core's Node bundle registers no gradient functions: support/tfjs-gradients.mjs loads them.

/** Selects the wasm backend and registers the gradients; call once before the losses. Returns the backend name. */
export async function initTF() {
  await registerTfjsGradients();
  await tf.setBackend('wasm');
  await tf.ready();
  return tf.getBackend();
}

export { tf };

// ---------------------------------------------------------------------------
// Small building blocks

/**
 * Identity forward, zero gradient: TF.js has no stopGradient. Used for the
 * max shifts of log-sum-exp (their gradient cancels analytically, so passing
 * none avoids float32 noise) and for CFL-Net's detached column maxima.
 */
const detach = tf.customGrad((x) => ({ value: tf.clone(x), gradFunc: (dy) => tf.zerosLike(dy) }));

/** Indices as an (n, 1) int32 tensor, the form gatherRows() takes. */
function indexColumn(indices) {
  return tf.tensor2d(Int32Array.from(indices), [indices.length, 1], 'int32');
}

/**
 * Rows `rows` (an indexColumn) of x (n, C). tf.gather's gradient needs
 * UnsortedSegmentSum, which the wasm backend lacks; the indices are distinct,
 * so scattering the upstream rows back with ScatterNd is the exact gradient.
 * `rows` must be created outside the function being differentiated: tensors
 * made during the forward pass are disposed before the backward pass runs.
 */
function gatherRows(x, rows) {
  const gather = tf.customGrad((input) => ({
    value: tf.gather(input, tf.reshape(rows, [-1])),
    gradFunc: (dy) => tf.scatterND(rows, dy, input.shape),
  }));
  return gather(x);
}

/**
 * Row-wise F.normalize(v, eps=1e-12): v / max(||v||, 1e-12). Clamping the
 * squared norm at 1e-24 before the sqrt is the same map and gives the spec's
 * derivative I/1e-12 below the threshold, without sqrt'(0) = inf for a zero row.
 */
function normalizeRows(v) {
  const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(v), 1, true), 1e-24));
  return tf.div(v, norm);
}

/** Log-sum-exp over axis 1 with a detached max shift, keepDims. */
function logSumExpRows(x) {
  const m = detach(tf.max(x, 1, true));
  return tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(x, m)), 1, true)));
}

/**
 * Sum of all elements in two levels: rows of about sqrt(n) elements, then the
 * row sums. The wasm Sum kernel accumulates sequentially in float32, which
 * put a 4x224x224 cross-entropy off by 6e-4 relative; two levels bring it
 * to 2e-6 (float64 reference) at no measurable cost.
 */
function sumAll(x) {
  const n = x.size;
  let rows = Math.floor(Math.sqrt(n));
  while (n % rows !== 0) rows--;
  return tf.sum(tf.sum(tf.reshape(x, [rows, n / rows]), 1));
}

/** Runs valueAndGrad of f on one input tensor, writes the gradient into out at offset, returns the value. */
function valueAndGradInto(f, input, out, offset) {
  const { value, grad } = tf.valueAndGrad(f)(input);
  out.set(grad.dataSync(), offset);
  return value.dataSync()[0];
}

// ---------------------------------------------------------------------------
// Cross-entropy (docs/spec.md §3; index targets, reduction "mean", no smoothing)

/**
 * Weighted mean cross-entropy over the class axis of NCHW logits.
 * @param {{logits: Float32Array, target: Int32Array, shape: number[], weight?: ArrayLike<number>, ignoreIndex?: number}} args
 * @returns {{loss: number, grad: Float32Array}}
 */
export function ceTF({ logits, target, shape, weight, ignoreIndex = -100 }) {
  const [B, C, H, W] = shape;
  const HW = H * W;
  // oneHot turns an index of -1 into an all-zero row, which is exactly an
  // ignored element: no loss and no weight in the normalizer.
  const indices = Int32Array.from(target, (y) => (y === ignoreIndex ? -1 : y));
  const classWeight = Float32Array.from(weight ?? new Array(C).fill(1));
  const grad = new Float32Array(logits.length);
  let loss = 0;
  tf.tidy(() => {
    // Target weights laid out like the logits, (B, C, HW): w_c where c = y_e, else 0.
    const oneHot = tf.transpose(tf.oneHot(tf.tensor2d(indices, [B, HW], 'int32'), C), [0, 2, 1]);
    const targetWeight = tf.mul(tf.cast(oneHot, 'float32'), tf.tensor3d(classWeight, [1, C, 1]));
    const normalizer = sumAll(targetWeight);
    const f = (x) => {
      // log-softmax over the class axis (axis 1) without transposing the logits
      const logProb = tf.sub(x, logSumExpRows(x));
      return tf.div(tf.neg(sumAll(tf.mul(targetWeight, logProb))), normalizer);
    };
    loss = valueAndGradInto(f, tf.tensor3d(logits, [B, C, HW]), grad, 0);
  });
  return { loss, grad };
}

// ---------------------------------------------------------------------------
// Patch contrast (docs/spec.md §4)

/** Patch labels (N) of one mask image (H, W): 1 where the patch mean is > 0.5. */
function patchLabels(maskImage, H, W, p) {
  const pooled = tf.avgPool(tf.tensor4d(maskImage, [1, H, W, 1]), p, p, 'valid');
  return tf.cast(tf.greater(tf.reshape(pooled, [-1]), 0.5), 'float32');
}

/** Unit patch vectors z (N, C) of one image x (C, H, W): average pool, then normalize. */
function patchVectors(x, p) {
  const [C, H, W] = x.shape;
  // avgPool wants NHWC; treating the C planes as a batch of 1-channel images avoids a transpose of x.
  const pooled = tf.avgPool(tf.reshape(x, [C, H, W, 1]), p, p, 'valid');
  const N = (H / p) * (W / p);
  return normalizeRows(tf.transpose(tf.reshape(pooled, [C, N])));
}

/** Anchor losses L_i, "exact" variant (4.3): softplus(LSE over negatives - s_ip), mean over positives. */
function exactAnchorLoss(s, positive, negative, positiveCount, hasNegative) {
  const m = detach(tf.max(s, 1, true));
  const negSum = tf.sum(tf.mul(tf.exp(tf.sub(s, m)), negative), 1, true);
  // No negatives: every term is ln(1) = 0. Substituting 1 keeps log() and its gradient finite there.
  const lse = tf.add(m, tf.log(tf.where(hasNegative, negSum, tf.onesLike(negSum))));
  // tf.softplus is thresholded (x above ~18 returns x, below ~-16 returns exp(x)): stable in float32.
  const terms = tf.mul(tf.softplus(tf.sub(lse, s)), positive);
  const perAnchor = tf.div(tf.sum(terms, 1, true), tf.maximum(positiveCount, 1));
  return tf.where(hasNegative, perAnchor, tf.zerosLike(perAnchor));
}

/** Anchor losses L_i, "cflnet" variant (4.2), in the official evaluation order with both 1e-18. */
function cflnetAnchorLoss(s, positive, negative, positiveCount, offDiagonal) {
  const sPrime = tf.mul(s, offDiagonal); // diagonal forced to 0; no gradient flows through it
  const columnMax = detach(tf.max(sPrime, 0, true)); // the official code detaches c_j
  const e = tf.exp(tf.sub(sPrime, columnMax));
  const negSum = tf.sum(tf.mul(e, negative), 1, true);
  const ratio = tf.div(e, tf.add(tf.add(e, negSum), 1e-18));
  const lambda = tf.neg(tf.log(tf.add(ratio, 1e-18)));
  // An anchor without positives has a zero row here, so L_i = 0 / 1.
  return tf.div(tf.sum(tf.mul(lambda, positive), 1, true), tf.maximum(positiveCount, 1));
}

/**
 * Batch mean of the per-image patch contrastive loss, with its gradient
 * with respect to the features. Images are processed one at a time (the loss
 * is per image) so that only one image's N x N matrices are alive.
 * @param {{features: Float32Array, mask: Float32Array, shape: number[], patchSize?: number,
 *          temperature?: number, variant?: 'exact'|'cflnet'}} args
 * @returns {{loss: number, grad: Float32Array}}
 */
export function patchContrastTF({ features, mask, shape, patchSize = 4, temperature = 0.1, variant = 'exact' }) {
  if (variant !== 'exact' && variant !== 'cflnet')
    throw new RangeError(`variant must be 'exact' or 'cflnet', got ${variant}`);
  const [B, C, H, W] = shape;
  const N = (H / patchSize) * (W / patchSize);
  const grad = new Float32Array(features.length);
  let loss = 0;
  for (let b = 0; b < B; b++) {
    tf.tidy(() => {
      // Class structure of the N x N similarity matrix; constants for the gradient.
      const label = patchLabels(mask.subarray(b * H * W, (b + 1) * H * W), H, W, patchSize);
      const same = tf.cast(tf.equal(tf.reshape(label, [N, 1]), tf.reshape(label, [1, N])), 'float32');
      const eye = tf.eye(N);
      const positive = tf.sub(same, eye);
      const negative = tf.sub(1, same);
      const positiveCount = tf.sum(positive, 1, true);
      // From the labels, not from the similarities: TF.js has no gradient for comparison ops
      // on the path from x to the loss.
      const hasNegative = tf.greater(tf.sum(negative, 1, true), 0);
      const offDiagonal = tf.sub(1, eye);

      const f = (x) => {
        const z = patchVectors(x, patchSize);
        const s = tf.div(tf.matMul(z, z, false, true), temperature);
        const perAnchor =
          variant === 'exact'
            ? exactAnchorLoss(s, positive, negative, positiveCount, hasNegative)
            : cflnetAnchorLoss(s, positive, negative, positiveCount, offDiagonal);
        return tf.div(tf.mean(perAnchor), B); // image loss / B: this image's share of the batch mean
      };
      const x = tf.tensor3d(features.subarray(b * C * H * W, (b + 1) * C * H * W), [C, H, W]);
      loss += valueAndGradInto(f, x, grad, b * C * H * W);
    });
  }
  return { loss, grad };
}

// ---------------------------------------------------------------------------
// InfoNCE (docs/spec.md §5)

/** Query (pristine) and key (forged) pixel lists of image b: the explicit sample, or every pixel in ascending order. */
function queriesAndKeys(mask, HW, b, sample) {
  if (sample) return { queries: Array.from(sample.pristine[b]), keys: Array.from(sample.forged[b]) };
  const queries = [];
  const keys = [];
  for (let k = 0; k < HW; k++) {
    const m = mask[b * HW + k];
    if (m === 0) queries.push(k);
    else if (m === 1) keys.push(k); // exact equality: fractional values belong to neither set
  }
  return { queries, keys };
}

/** Positive logit l0 (J, 1): mean cosine to the other queries / t, via the O(J*C) sum trick of the spec. */
function meanLogitPositive(u, t) {
  const J = u.shape[0];
  const total = tf.sum(u, 0, true); // S = sum of all queries
  const withSelf = tf.matMul(u, total, false, true); // u . S
  const self = tf.sum(tf.square(u), 1, true); // the actual u . u (not 1: zero vectors)
  return tf.div(tf.sub(withSelf, self), (J - 1) * t);
}

/** Positive logit l0 (J, 1) = ln mean_{b != a} exp(u_a . u_b / t), via log-sum-exp with the diagonal removed. */
function meanExpPositive(u, t) {
  const J = u.shape[0];
  const logits = tf.div(tf.matMul(u, u, false, true), t);
  // -1e30 on the diagonal makes exp() exactly 0 there; its gradient is then 0 too.
  const offDiagonal = tf.sub(logits, tf.mul(tf.eye(J), 1e30));
  return tf.sub(logSumExpRows(offDiagonal), Math.log(J - 1));
}

/**
 * Mean over used images of the per-image InfoNCE loss (FOCAL), with its
 * gradient with respect to the raw features.
 * @param {{features: Float32Array, mask: Float32Array, shape: number[], temperature?: number,
 *          positive?: 'mean-logit'|'mean-exp', sample?: {pristine: ArrayLike<number>[], forged: ArrayLike<number>[]}}} args
 * @returns {{loss: number, grad: Float32Array}}
 */
export function infoNCETF({ features, mask, shape, temperature = 0.1, positive = 'mean-logit', sample }) {
  if (positive !== 'mean-logit' && positive !== 'mean-exp')
    throw new RangeError(`positive must be 'mean-logit' or 'mean-exp', got ${positive}`);
  const [B, C, H, W] = shape;
  const HW = H * W;
  const lists = [];
  for (let b = 0; b < B; b++) lists.push(queriesAndKeys(mask, HW, b, sample));
  // Used iff J >= 2 and M >= 1 (this covers the first-stage skip: an empty class gives J = 0 or M = 0).
  const used = lists.map(({ queries, keys }) => queries.length >= 2 && keys.length >= 1);
  const numUsed = used.filter(Boolean).length;
  const grad = new Float32Array(features.length); // skipped images keep a zero gradient
  let loss = 0; // no usable image: loss 0 (docs/spec.md §5.8)

  for (let b = 0; b < B; b++) {
    if (!used[b]) continue;
    const { queries, keys } = lists[b];
    tf.tidy(() => {
      const queryRows = indexColumn(queries);
      const keyRows = indexColumn(keys);
      const f = (x) => {
        const pixels = tf.transpose(x); // (HW, C): one row per pixel
        const u = normalizeRows(gatherRows(pixels, queryRows));
        const k = normalizeRows(gatherRows(pixels, keyRows));
        const negatives = tf.div(tf.matMul(u, k, false, true), temperature); // (J, M)
        const l0 = positive === 'mean-logit' ? meanLogitPositive(u, temperature) : meanExpPositive(u, temperature);
        // Cross-entropy with target 0 over [l0, negatives]: LSE(l0, neg) - l0, shift detached.
        const m = detach(tf.maximum(l0, tf.max(negatives, 1, true)));
        const sumExp = tf.add(tf.exp(tf.sub(l0, m)), tf.sum(tf.exp(tf.sub(negatives, m)), 1, true));
        const perQuery = tf.sub(tf.add(m, tf.log(sumExp)), l0);
        return tf.div(tf.mean(perQuery), numUsed);
      };
      const x = tf.tensor2d(features.subarray(b * C * HW, (b + 1) * C * HW), [C, HW]);
      loss += valueAndGradInto(f, x, grad, b * C * HW);
    });
  }
  return { loss, grad };
}

// ---------------------------------------------------------------------------
// Benchmark cases

/**
 * Runs one variant of a case from support/cases.mjs makeCase():
 * 'mean' for ce, 'exact' | 'cflnet' for pc, 'mean-logit' | 'mean-exp' for nce and nce-full.
 * @returns {{loss: number, grad: Float32Array}}
 */
export function runCaseTF(caseObj, variant) {
  const { shape, temperature } = caseObj;
  switch (caseObj.loss) {
    case 'cross_entropy':
      return ceTF({ logits: caseObj.logits, target: caseObj.target, shape, weight: caseObj.weight });
    case 'patch_contrast':
      return patchContrastTF({
        features: caseObj.features,
        mask: caseObj.mask,
        shape,
        patchSize: caseObj.patchSize,
        temperature,
        variant,
      });
    case 'info_nce':
      return infoNCETF({
        features: caseObj.features,
        mask: caseObj.mask,
        shape,
        temperature,
        positive: variant,
        sample: caseObj.sample,
      });
    default:
      throw new RangeError(`unknown loss ${caseObj.loss}`);
  }
}
