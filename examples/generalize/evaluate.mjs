// Held-out scoring of a trained model: each image localized by the given rules (localize.mjs),
// scored by IoU and F1 per image; the means over a split and over each manipulation.

import * as tf from '@tensorflow/tfjs-core';
import { mean } from '../stats.mjs';
import { iou } from '../train/kmeans.mjs';
import { f1, LOCALIZERS } from './localize.mjs';

/**
 * Per-image scores of `model` on a held-out set, for each localizer named in `rules`:
 * { [rule]: { iou: number[], f1: number[] } }, images in the set's order.
 */
export function scoreSet(model, set, rules, { batch, size, dim }) {
  const hw = size * size,
    scores = Object.fromEntries(rules.map((r) => [r, { iou: [], f1: [] }]));
  for (let from = 0; from < set.n; from += batch) {
    const n = Math.min(batch, set.n - from);
    const out = tf.tidy(() => {
      const images = tf.tensor4d(set.images.subarray(from * 3 * hw, (from + n) * 3 * hw), [n, 3, size, size]);
      const { features, logits } = model.forward(images);
      return { features: features.dataSync().slice(), logits: logits.dataSync().slice() };
    });
    for (let i = 0; i < n; i++) {
      const outputs = {
        features: out.features.subarray(i * dim * hw, (i + 1) * dim * hw),
        logits: out.logits.subarray(i * 2 * hw, (i + 1) * 2 * hw),
        dim,
        hw,
      };
      const truth = set.masks.subarray((from + i) * hw, (from + i + 1) * hw);
      for (const rule of rules) {
        const pred = LOCALIZERS[rule](outputs);
        scores[rule].iou.push(iou(pred, truth));
        scores[rule].f1.push(f1(pred, truth));
      }
    }
  }
  return scores;
}

/** { iou, f1, byKind: { [kind]: iou } }: means over the set and over each manipulation's images. */
export function summarize(scores, kinds) {
  const byKind = {};
  for (const kind of new Set(kinds)) byKind[kind] = mean(scores.iou.filter((_, i) => kinds[i] === kind));
  return { iou: mean(scores.iou), f1: mean(scores.f1), byKind };
}
