// Float64 test oracle for cross_entropy (docs/spec.md §3). Plain loops, never shipped.
//
// Every case of docs/spec.md §3 has the form  per_e = −Σ_c a_{e,c} · l_{e,c}  with per-element
// coefficients a (index targets: (1−eps)·w_y on the target class plus (eps/C)·w_c everywhere;
// probability targets: w_c·q'_c). With p = softmax, d(per_e)/dx_c = p_c·Σ_j a_j − a_c, so one
// loop serves both target kinds.

/**
 * @param {{logits: ArrayLike<number>, shape: number[], target?: ArrayLike<number>,
 *   targetProbs?: ArrayLike<number>, weight?: ArrayLike<number>|null, ignoreIndex?: number,
 *   reduction?: 'mean'|'sum'|'none', labelSmoothing?: number}} opts
 * @returns {{loss: number|Float64Array, perElementLoss: Float64Array, normalizer: number|null,
 *   grad: Float64Array}} grad is d(loss)/d(logits); for 'none' the gradient of the sum.
 */
export function crossEntropyRef({
  logits,
  shape,
  target,
  targetProbs,
  weight,
  ignoreIndex = -100,
  reduction = 'mean',
  labelSmoothing = 0,
}) {
  const [B, C, H, W] = shape;
  const HW = H * W,
    E = B * HW;
  const x = Float64Array.from(logits);
  const w = weight ? Float64Array.from(weight) : new Float64Array(C).fill(1);
  const probs = targetProbs ? Float64Array.from(targetProbs) : null;
  const perElementLoss = new Float64Array(E);
  const grad = new Float64Array(x.length);
  let validWeight = 0; // the 'mean' denominator for index targets

  const at = (b, c, k) => (b * C + c) * HW + k;
  const l = new Float64Array(C),
    a = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < HW; k++) {
      const e = b * HW + k;
      if (probs) probabilityCoefficients(probs, w, labelSmoothing, (c) => at(b, c, k), a);
      else {
        const y = target[e];
        if (y === ignoreIndex) continue; // ignored: loss 0, gradient 0
        indexCoefficients(y, w, labelSmoothing, a);
        validWeight += w[y];
      }
      logSoftmax(x, (c) => at(b, c, k), l);
      let loss = 0,
        sumA = 0;
      for (let c = 0; c < C; c++) {
        loss -= a[c] * l[c];
        sumA += a[c];
      }
      perElementLoss[e] = loss;
      for (let c = 0; c < C; c++) grad[at(b, c, k)] = Math.exp(l[c]) * sumA - a[c];
    }
  }
  return reduce(perElementLoss, grad, reduction, probs ? E : validWeight);
}

/** Index target y: (1−eps)·w_y·[c = y] + (eps/C)·w_c. */
function indexCoefficients(y, w, eps, a) {
  const C = a.length;
  for (let c = 0; c < C; c++) a[c] = (eps / C) * w[c];
  a[y] += (1 - eps) * w[y];
}

/** Probability target: w_c·q'_c with q' = (1−eps)·q + eps/C. */
function probabilityCoefficients(q, w, eps, index, a) {
  const C = a.length;
  for (let c = 0; c < C; c++) a[c] = w[c] * ((1 - eps) * q[index(c)] + eps / C);
}

/** l_c = x_c − LSE(x), shifted by the maximum so that logits of ±1e3 do not overflow. */
function logSoftmax(x, index, l) {
  const C = l.length;
  let max = -Infinity;
  for (let c = 0; c < C; c++) max = Math.max(max, x[index(c)]);
  let sum = 0;
  for (let c = 0; c < C; c++) sum += Math.exp(x[index(c)] - max);
  const lse = max + Math.log(sum);
  for (let c = 0; c < C; c++) l[c] = x[index(c)] - lse;
}

function reduce(perElementLoss, grad, reduction, normalizer) {
  if (reduction === 'none') return { loss: perElementLoss, perElementLoss, normalizer: null, grad };
  let sum = 0;
  for (const v of perElementLoss) sum += v;
  if (reduction === 'sum') return { loss: sum, perElementLoss, normalizer: null, grad };
  // A zero normalizer (every target ignored, or only weight-0 targets) gives 0/0 = NaN, but the
  // spec keeps the gradient at zero so a training step stays finite.
  if (normalizer === 0) return { loss: NaN, perElementLoss, normalizer, grad: grad.fill(0) };
  for (let i = 0; i < grad.length; i++) grad[i] /= normalizer;
  return { loss: sum / normalizer, perElementLoss, normalizer, grad };
}
