// infoNCE's scope 'batch' (docs/spec.md, InfoNCE, "Scope"): scope 'image' applied to the virtual
// image (1, C, B·H, W) that stacks the batch vertically, so stacked pixel b·H·W + k is pixel k of
// image b. These helpers build that image from the batch and split its results back per image.

import type { CopyCache } from '../runtime/copies.js';
import type { InfoNCEImage } from '../runtime/schedule/jobs.js';
import type { InfoNCEResult, Mask } from '../types.js';

type Sets = { queries: Int32Array[]; negatives: Int32Array[] };
type BuildSets = (mask: Mask, images: number, hw: number, sample: unknown) => Sets;

/** (B, C, H·W) → (C, B·H·W) into `out`: channel c of image b lands at rows b·H of the stacked channel c. */
export function stackImages(features: Float32Array, b: number, c: number, hw: number, out: Float32Array): Float32Array {
  for (let img = 0; img < b; img++) {
    for (let ch = 0; ch < c; ch++) {
      const from = (img * c + ch) * hw;
      out.set(features.subarray(from, from + hw), (ch * b + img) * hw);
    }
  }
  return out;
}

/** The inverse of stackImages, into `out`. */
function unstackImages(stacked: Float32Array, b: number, c: number, hw: number, out: Float32Array): void {
  for (let img = 0; img < b; img++) {
    for (let ch = 0; ch < c; ch++) {
      const from = (ch * b + img) * hw;
      out.set(stacked.subarray(from, from + hw), (img * c + ch) * hw);
    }
  }
}

/**
 * Query and negative lists of the stacked image. The mask (B, 1, H, W) already is the stacked
 * mask, so every pixel and the seeded draw (the stream of image 0) are built on it directly;
 * explicit per-image lists are validated per image, then offset by b·H·W and concatenated.
 */
export function stackSets(mask: Mask, b: number, hw: number, sample: unknown, buildSets: BuildSets): Sets {
  const explicit = sample !== null && typeof sample === 'object' && ('pristine' in sample || 'forged' in sample);
  if (!explicit) return buildSets(mask, 1, b * hw, sample);
  const perImage = buildSets(mask, b, hw, sample);
  const concat = (lists: Int32Array[]): Int32Array => {
    const out = new Int32Array(lists.reduce((n, l) => n + l.length, 0));
    let at = 0;
    lists.forEach((list, img) => {
      for (let i = 0; i < list.length; i++) out[at++] = list[i] + img * hw;
    });
    return out;
  };
  return { queries: [concat(perImage.queries)], negatives: [concat(perImage.negatives)] };
}

/**
 * Per image of a batch-scope call: its own queries and negatives, and whether it took part (when
 * the stacked image was `used`).
 */
export function batchCounts(queries: Int32Array, negatives: Int32Array, b: number, hw: number, used: boolean) {
  const queryCounts: [number, number][] = Array.from({ length: b }, () => [0, 0]);
  for (let i = 0; i < queries.length; i++) queryCounts[Math.floor(queries[i] / hw)][0]++;
  for (let i = 0; i < negatives.length; i++) queryCounts[Math.floor(negatives[i] / hw)][1]++;
  return { queryCounts, usedImages: queryCounts.map(([j, m]) => used && j + m > 0) };
}

/**
 * The result fields of a batch-scope call from the stacked image's result: loss and gradient of
 * the stacked image; per image b, its own queries' count, losses (in stacked-list order) and mean.
 */
export function splitBatchResult(
  image: InfoNCEImage,
  queries: Int32Array,
  negatives: Int32Array,
  { b, c, hw }: { b: number; c: number; hw: number },
  grad: boolean,
  copies: CopyCache,
  gradInto?: Float32Array,
): Omit<InfoNCEResult, 'backend'> {
  const used = image.loss !== null;
  const { queryCounts, usedImages } = batchCounts(queries, negatives, b, hw, used);
  const perQueryLoss: (Float32Array | null)[] = queryCounts.map(([j]) => (used && j > 0 ? new Float32Array(j) : null));
  const perImageLoss: (number | null)[] = queryCounts.map(() => null);
  if (used) {
    const filled = new Int32Array(b);
    const sums = new Float64Array(b);
    for (let i = 0; i < queries.length; i++) {
      const img = Math.floor(queries[i] / hw);
      const v = image.perQuery![i];
      perQueryLoss[img]![filled[img]++] = v;
      sums[img] += v;
    }
    queryCounts.forEach(([j], img) => {
      if (j > 0) perImageLoss[img] = sums[img] / j;
    });
  }
  const result: Omit<InfoNCEResult, 'backend'> = {
    loss: image.loss ?? 0,
    numUsedImages: usedImages.filter(Boolean).length,
    usedImages,
    queryCounts,
    perImageLoss,
    perQueryLoss,
  };
  // A skipped stacked image computes no gradient: every pixel's is 0.
  if (grad) {
    const out = gradInto ?? new Float32Array(b * c * hw);
    if (image.grad) unstackImages(image.grad, b, c, hw, out);
    else out.fill(0);
    copies.recycle(image.grad);
    result.grad = { features: out };
  }
  return result;
}
