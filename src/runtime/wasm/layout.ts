// Where things lie in the kernels' buffers, as the TypeScript side needs to know it: the padding
// of rows and channels, patchContrast's class-sorted rows and strips, and the chunks of channels
// an image passes through the arena in (docs/design.md §2, §9). The patch labels are computed
// here and only here: the kernels take the row map made from them.

import { STRIP_ROWS } from '../../codes.js';

export { STRIP_ROWS };

/** n rounded up to a multiple of 8: the row and channel padding of the kernels' matrices. */
export const roundUp8 = (n: number) => (n + 7) & ~7;

/**
 * Patch labels of an H × W mask (1 = forged): a patch is forged when the mean of its mask values,
 * summed in float64 in row order, is > 0.5 (docs/spec.md §4).
 */
export function patchLabels(mask: Float32Array, h: number, w: number, p: number): Uint8Array {
  const kw = w / p;
  const labels = new Uint8Array((h / p) * kw);
  for (let r = 0; r < h / p; r++)
    for (let q = 0; q < kw; q++) {
      let sum = 0;
      for (let y = r * p; y < r * p + p; y++) for (let x = q * p; x < q * p + p; x++) sum += mask[y * w + x];
      labels[r * kw + q] = sum / (p * p) > 0.5 ? 1 : 0;
    }
  return labels;
}

/**
 * Each patch's row in Z: pristine patches from row 0, forged ones from P rounded up to `align`
 * (8 for the wasm kernels' panels, 1 on WebGPU), each class in patch order.
 */
export function rowMap(labels: Uint8Array, align: number): { rowOf: Int32Array; pristine: number } {
  let pristine = 0;
  for (const label of labels) if (label === 0) pristine++;
  const rowOf = new Int32Array(labels.length);
  let nextPristine = 0,
    nextForged = Math.ceil(pristine / align) * align;
  for (let k = 0; k < labels.length; k++) rowOf[k] = labels[k] === 0 ? nextPristine++ : nextForged++;
  return { rowOf, pristine };
}

/**
 * patchContrast's rows (assembly/patch_contrast.ts): pristine rows from 0, forged rows from
 * `forgedStart` = roundUp8(P), each class block padded to 8 rows; the class strips are the
 * pristine block's strips of STRIP_ROWS, then the forged block's.
 */
export function patchLayout(n: number, pristine: number) {
  const forgedStart = roundUp8(pristine),
    np = forgedStart + roundUp8(n - pristine);
  const pristineStrips = Math.ceil(forgedStart / STRIP_ROWS);
  return {
    n,
    pristine,
    np,
    forgedStart,
    pristineStrips,
    classStrips: pristineStrips + Math.ceil((np - forgedStart) / STRIP_ROWS),
  };
}

export type PatchLayout = ReturnType<typeof patchLayout>;

/** Class strip s of a layout: its first row, its rows, and the end of its class block. */
export function classStrip(layout: PatchLayout, s: number) {
  const forged = s >= layout.pristineStrips;
  const start = forged ? layout.forgedStart : 0,
    end = forged ? layout.np : layout.forgedStart;
  const i0 = start + (forged ? s - layout.pristineStrips : s) * STRIP_ROWS;
  return { i0, rows: Math.min(STRIP_ROWS, end - i0), end };
}

/**
 * The rows [from, to) of dZ that a part of a similarity pass writes, from its strips [first,
 * last]: their rows to the end of their class block (positives), or its pristine rows and every
 * forged row (negativeGrad).
 */
export function dzSpans(layout: PatchLayout, stage: string, first: number, last: number): [number, number][] {
  if (stage === 'positives') return [[classStrip(layout, first).i0, classStrip(layout, last).end]];
  return [
    [first * STRIP_ROWS, Math.min(layout.forgedStart, (last + 1) * STRIP_ROWS)],
    [layout.forgedStart, layout.np],
  ];
}

/**
 * The rows [row0, row1) of dU that an infoNCE part writes, from its query strips [s0, s1) of an
 * image with J_p query rows: the strips' own rows (negatives), or from their first row to the last
 * (the query gradient's upper half-strips).
 */
export function nceDuRows(stage: string, jp: number, s0: number, s1: number): [number, number] {
  const row0 = Math.min(jp, s0 * STRIP_ROWS);
  return [row0, stage === 'queryGrad' ? jp : Math.min(jp, s1 * STRIP_ROWS)];
}

/** Floats of an image a pooling or backward step holds (512 KiB): they stay in cache from the copy to the kernel. */
const CHUNK_FLOATS = 2 ** 17;

/** Channels per step of the pooling and the backward pass, for `pixels` pixels a channel. */
export function channelChunk(c: number, pixels: number): number {
  return Math.max(1, Math.min(c, Math.floor(CHUNK_FLOATS / pixels)));
}

/**
 * The most floats a step holds for an image of C channels of `pixels` pixels, or any band of it
 * (fewer pixels a channel, so maybe more channels a step): at most 2¹⁷ floats, or one channel.
 */
export function chunkFloats(c: number, pixels: number): number {
  return Math.min(c * pixels, Math.max(CHUNK_FLOATS, pixels));
}
