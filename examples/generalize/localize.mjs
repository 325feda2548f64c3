// How each method turns one image's network outputs into a forged-pixel mask, and the F1 that
// scores it next to examples/train's IoU. Both scores are pixel-level, of the forged class.
//   head     the 2-class head's argmax (CE and CFL-Net, as CFL-Net localizes);
//   cluster  2-means of the L2-normalized features, the smaller cluster forged (FOCAL);
//   margin   2-means of the head's margin logit₁ − logit₀, the higher cluster forged: a per-image
//            threshold in place of 0, to tell the loss's effect from the localizer's.

import { twoMeans } from '../train/kmeans.mjs';

/** F1 (Dice) of a predicted and a true mask (both 0/1); 1 when both are empty. */
export function f1(pred, truth) {
  let inter = 0,
    total = 0;
  for (let i = 0; i < truth.length; i++) {
    const a = pred[i] > 0.5,
      b = truth[i] > 0.5;
    if (a && b) inter++;
    total += (a ? 1 : 0) + (b ? 1 : 0);
  }
  return total === 0 ? 1 : (2 * inter) / total;
}

/** (H·W) margins logit₁ − logit₀ of one image's (2, H·W) logits. */
function margins(logits, hw) {
  const m = new Float32Array(hw);
  for (let p = 0; p < hw; p++) m[p] = logits[hw + p] - logits[p];
  return m;
}

/** 1-D 2-means (Lloyd, from the extremes) of the values; 1 = the cluster with the higher centre. */
function twoMeans1d(values, iterations = 30) {
  let lo = Math.min(...values),
    hi = Math.max(...values);
  const label = new Uint8Array(values.length);
  for (let it = 0; it < iterations && hi > lo; it++) {
    const cut = (lo + hi) / 2;
    let s0 = 0,
      n0 = 0,
      s1 = 0,
      n1 = 0;
    values.forEach((v, i) => {
      label[i] = v > cut ? 1 : 0;
      if (label[i]) {
        s1 += v;
        n1++;
      } else {
        s0 += v;
        n0++;
      }
    });
    const next = [n0 ? s0 / n0 : lo, n1 ? s1 / n1 : hi];
    if (next[0] === lo && next[1] === hi) break;
    [lo, hi] = next;
  }
  return label;
}

/** One image's outputs → Uint8Array (H·W), 1 = forged. `features` (D, H·W), `logits` (2, H·W). */
export const LOCALIZERS = {
  head: ({ logits, hw }) => {
    const m = margins(logits, hw);
    return Uint8Array.from(m, (v) => (v > 0 ? 1 : 0));
  },
  cluster: ({ features, dim, hw }) => twoMeans(features, dim, hw),
  margin: ({ logits, hw }) => twoMeans1d(margins(logits, hw)),
};
