// One patchContrast image in bands of patch rows, so that its pooling and backward pass run on
// every worker when the call has fewer images than threads (docs/design.md §9). Both stages work
// patch by patch, so a band gives each patch the bits the whole image gives it: the bands are
// joined here into the whole image's row layout, and the band count may follow the thread count.
// The workers read their bands from, and write their gradients into, the image's features copy,
// which is therefore shared memory (runtime/recycle.ts); without it an image is one band.

import { type PatchContrastJob, patchLayout, roundUp8 } from './jobs.js';
import { isShared } from './recycle.js';
import type { PatchPoolResult } from './tasks.js';

/** Pixel rows [y0, y1) of each band, whole patch rows, as even as they allow; one band: the whole image. */
export function planBands(job: PatchContrastJob, threads: number): [number, number][] {
  const p = job.patchSize,
    kh = job.h / p;
  const count = threads > 1 && isShared(job.features) ? Math.min(kh, Math.ceil(threads / (job.images ?? 1))) : 1;
  return Array.from({ length: count }, (_, i): [number, number] => [
    Math.floor((i * kh) / count) * p,
    Math.floor(((i + 1) * kh) / count) * p,
  ]);
}

/**
 * The bands' pool results (in band order) as the whole image's: labels in patch order, its row
 * map (pristine patches from row 0, forged ones from roundUp8(P)), Z and the norms in that layout.
 */
export function joinBandPools(bands: PatchPoolResult[], c: number): PatchPoolResult {
  const cp = roundUp8(c);
  const n = bands.reduce((sum, band) => sum + band.labels.length, 0);
  const labels = new Uint8Array(n);
  let k0 = 0;
  for (const band of bands) {
    labels.set(band.labels, k0);
    k0 += band.labels.length;
  }
  const pristine = bands.reduce((sum, band) => sum + band.pristine, 0);
  const rowOf = new Int32Array(n);
  let nextPristine = 0,
    nextForged = roundUp8(pristine);
  for (let k = 0; k < n; k++) rowOf[k] = labels[k] === 0 ? nextPristine++ : nextForged++;
  const { np } = patchLayout(n, pristine);
  const z = new Float32Array(np * cp),
    norms = new Float64Array(np);
  k0 = 0;
  for (const band of bands) {
    for (let k = 0; k < band.labels.length; k++) {
      const to = rowOf[k0 + k],
        from = band.rowOf[k];
      z.set(band.z.subarray(from * cp, (from + 1) * cp), to * cp);
      norms[to] = band.norms[from];
    }
    k0 += band.labels.length;
  }
  return { spare: bands[0].spare, labels, rowOf, z, norms, pristine };
}

/** What the backward pass of the band of patches [k0, k1) reads: their rows of Z, dZ and norms, in patch order. */
export function bandRows(
  pool: PatchPoolResult,
  dz: Float32Array,
  k0: number,
  k1: number,
  c: number,
): { z: Float32Array; dz: Float32Array; norms: Float64Array; rowOf: Int32Array } {
  const cp = roundUp8(c),
    count = k1 - k0;
  const out = {
    z: new Float32Array(count * cp),
    dz: new Float32Array(count * cp),
    norms: new Float64Array(count),
    rowOf: new Int32Array(count),
  };
  for (let k = 0; k < count; k++) {
    const row = pool.rowOf[k0 + k];
    out.z.set(pool.z.subarray(row * cp, (row + 1) * cp), k * cp);
    out.dz.set(dz.subarray(row * cp, (row + 1) * cp), k * cp);
    out.norms[k] = pool.norms[row];
    out.rowOf[k] = k;
  }
  return out;
}
