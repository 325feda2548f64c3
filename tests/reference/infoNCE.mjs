// Float64 test oracle for info_nce (docs/spec.md §5), positive terms 'mean-logit' and 'mean-exp'.
// Plain loops, never shipped: the positive term is the direct mean over b ≠ a, not the O(J·C) form.
import { logSumExp, normalize, normalizeBackward } from './patchContrast.mjs';

/**
 * @param {{features: ArrayLike<number>, mask: ArrayLike<number>, shape: number[], temperature?: number,
 *   positive?: 'mean-logit'|'mean-exp', sample?: {pristine: number[][], forged: number[][]}}} opts
 *   sample: explicit query (pristine) and negative (forged) pixel lists per image; absent = all pixels.
 * @returns {{loss: number, numUsedImages: number, usedImages: boolean[], queryCounts: [number, number][],
 *   perImageLoss: (number|null)[], perQueryLoss: (Float64Array|null)[],
 *   perQueryPositiveTerm: (Float64Array|null)[], grad: Float64Array}}
 */
export function infoNCERef({ features, mask, shape, temperature = 0.1, positive = 'mean-logit', sample }) {
  if (positive !== 'mean-logit' && positive !== 'mean-exp') throw new Error(`unknown positive ${positive}`);
  const [B, C, H, W] = shape;
  const HW = H * W;
  const f = Float64Array.from(features);
  const grad = new Float64Array(f.length);

  const images = [];
  for (let b = 0; b < B; b++) images.push(buildImage(f, mask, b, C, HW, sample));
  const numUsedImages = images.filter((im) => im.used).length;

  const result = {
    loss: 0,
    numUsedImages,
    usedImages: images.map((im) => im.used),
    queryCounts: images.map((im) => [im.Q.length, im.K.length]),
    perImageLoss: [],
    perQueryLoss: [],
    perQueryPositiveTerm: [],
    grad,
  };
  for (let b = 0; b < B; b++) {
    const im = images[b];
    if (!im.used) {
      // Skipped images contribute nothing, and every one of their pixels gets exactly 0.
      result.perImageLoss.push(null);
      result.perQueryLoss.push(null);
      result.perQueryPositiveTerm.push(null);
      continue;
    }
    // The batch loss is the mean over used images of the mean over J queries.
    const scale = 1 / (im.Q.length * numUsedImages);
    const { queryLoss, positiveTerm, gx } = imageLoss(im, C, temperature, positive, scale);
    let sum = 0;
    for (const v of queryLoss) sum += v;
    const imageMean = sum / im.Q.length;
    result.perImageLoss.push(imageMean);
    result.perQueryLoss.push(queryLoss);
    result.perQueryPositiveTerm.push(positiveTerm);
    result.loss += imageMean / numUsedImages;
    pixelGradientsInto(im, gx, grad.subarray(b * C * HW, (b + 1) * C * HW), C, HW);
  }
  // No used image: loss 0 and a zero gradient, which the loop above already leaves.
  return result;
}

/**
 * Normalized pixel vectors (pixel-major, HW × C), the query list Q (pristine) and negative list K
 * (forged), and whether the image is used (both classes present, J ≥ 2, M ≥ 1).
 */
function buildImage(f, mask, b, C, HW, sample) {
  const x = new Float64Array(HW * C),
    norms = new Float64Array(HW),
    v = new Float64Array(C);
  for (let k = 0; k < HW; k++) {
    for (let c = 0; c < C; c++) v[c] = f[(b * C + c) * HW + k];
    norms[k] = normalize(v, x.subarray(k * C, (k + 1) * C));
  }
  // Exact equality: a fractional mask value puts a pixel in neither set.
  const pristine = [],
    forged = [];
  for (let k = 0; k < HW; k++) {
    const m = Number(mask[b * HW + k]);
    if (m === 0) pristine.push(k);
    else if (m === 1) forged.push(k);
  }
  const Q = sample ? Array.from(sample.pristine[b]) : pristine;
  const K = sample ? Array.from(sample.forged[b]) : forged;
  const used = pristine.length > 0 && forged.length > 0 && Q.length >= 2 && K.length >= 1;
  return { x, norms, Q, K, used };
}

/**
 * Per-query losses and positive terms of one used image, and gx = scale · d(Σ_a loss_a)/dx on the
 * normalized pixel vectors.
 */
function imageLoss({ x, Q, K }, C, t, positive, scale) {
  const J = Q.length;
  const dot = (k1, k2) => {
    let d = 0;
    for (let c = 0; c < C; c++) d += x[k1 * C + c] * x[k2 * C + c];
    return d;
  };
  const gx = new Float64Array(x.length);
  // Adds g·d(u·w)/d(x): u receives g·w and w receives g·u.
  const addDotGrad = (k1, k2, g) => {
    for (let c = 0; c < C; c++) {
      gx[k1 * C + c] += g * x[k2 * C + c];
      gx[k2 * C + c] += g * x[k1 * C + c];
    }
  };
  const queryLoss = new Float64Array(J),
    positiveTerm = new Float64Array(J);
  for (let a = 0; a < J; a++) {
    const u = Q[a];
    // "b ≠ a" is by position in Q: the self-similarity u·u never enters.
    const others = Q.filter((_, b) => b !== a);
    const pos = positiveLogit(
      others.map((q) => dot(u, q)),
      t,
      positive,
    );
    const negatives = K.map((k) => dot(u, k) / t);
    // Cross-entropy over [ℓ0, neg_1..neg_M] with target 0.
    const lse = logSumExp([pos.logit, ...negatives]);
    queryLoss[a] = lse - pos.logit;
    positiveTerm[a] = pos.term;
    const gPositive = scale * (Math.exp(pos.logit - lse) - 1);
    for (let i = 0; i < others.length; i++) addDotGrad(u, others[i], gPositive * pos.weights[i]);
    for (let i = 0; i < K.length; i++) addDotGrad(u, K[i], (scale * Math.exp(negatives[i] - lse)) / t);
  }
  return { queryLoss, positiveTerm, gx };
}

/**
 * ℓ0 from the cosines to the other queries, the stored positive term (pi_a for mean-logit, ln A_a
 * for mean-exp) and the weights dℓ0/d(cosine_b).
 */
function positiveLogit(cosines, t, positive) {
  const J1 = cosines.length; // J − 1 ≥ 1 in a used image
  if (positive === 'mean-logit') {
    let sum = 0;
    for (const v of cosines) sum += v;
    const pi = sum / J1;
    return { logit: pi / t, term: pi, weights: cosines.map(() => 1 / (J1 * t)) };
  }
  // ln A_a = LSE_b(cos_b/t) − ln(J−1); its derivative is softmax_b / t.
  const logits = cosines.map((v) => v / t);
  const lse = logSumExp(logits);
  const lnA = lse - Math.log(J1);
  return { logit: lnA, term: lnA, weights: logits.map((l) => Math.exp(l - lse) / t) };
}

/** Back through the per-pixel normalization into the (C, HW) image gradient. */
function pixelGradientsInto({ x, norms }, gx, gImage, C, HW) {
  const gv = new Float64Array(C);
  for (let k = 0; k < HW; k++) {
    normalizeBackward(x.subarray(k * C, (k + 1) * C), norms[k], gx.subarray(k * C, (k + 1) * C), gv);
    for (let c = 0; c < C; c++) gImage[c * HW + k] = gv[c];
  }
}
