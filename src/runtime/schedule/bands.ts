// One patchContrast image in bands of patch rows, so that its pooling and backward pass run on
// every worker when the call has fewer images than threads (docs/design.md §9). Both stages work
// patch by patch, so a band gives each patch the bits the whole image gives it: a band pools its
// patches in patch order and writes each row of Z where the image's row map puts it, and the band
// count may follow the thread count. The workers read their bands from the image's features copy
// (unless it was pooled at call time) and write their gradients into shared memory; the parts read
// the image's Z and write their partial dZ into slots, all in shared memory (runtime/copies.ts), so
// that the calling thread copies and sums no rows between the stages. Without shared memory an
// image is one band; an image not split has its slots summed by one backward task, a band of all
// its rows.

import { type CopyCache, isShared } from '../copies.js';
import { dzSpans, type PatchLayout, patchLayout, roundUp8 } from '../wasm/layout.js';
import type { DzSlot, PatchBackwardTask, PatchPoolResult, PatchPoolTask } from '../wasm/protocol.js';
import { type Part, type PatchContrastJob, planParts } from './jobs.js';

/**
 * Pixel rows [y0, y1) of each band, whole patch rows, as even as they allow; one band: the whole
 * image — also when its parts' dZ slots would take more than job.maxSlotFloats.
 */
export function planBands(job: PatchContrastJob, threads: number): [number, number][] {
  const p = job.patchSize,
    kh = job.h / p;
  const bands = threads > 1 && isShared(job.pooled?.z ?? (job.features as Float32Array)) && slotsFit(job);
  const count = bands ? Math.min(kh, Math.ceil(threads / job.images)) : 1;
  return Array.from({ length: count }, (_, i): [number, number] => [
    Math.floor((i * kh) / count) * p,
    Math.floor(((i + 1) * kh) / count) * p,
  ]);
}

/** The rows [from, to) a part of an image in bands writes into its dZ slot: none for a pass without dZ. */
export function slotSpans(layout: PatchLayout, part: Part): [number, number][] {
  const writesDz = part.stage === 'positives' || part.stage === 'negativeGrad';
  return writesDz ? dzSpans(layout, part.stage, part.s0, part.s1 - 1) : [];
}

/** Rows of `spans`, summed. */
export const spanRows = (spans: [number, number][]) => spans.reduce((n, [from, to]) => n + to - from, 0);

/** Whether an image's dZ slots fit in job.maxSlotFloats (always, without a gradient). */
export function slotsFit(job: PatchContrastJob): boolean {
  if (!job.grad) return true;
  const layout = patchLayout(job.labels.length, job.pristine);
  let rows = 0;
  for (const part of planParts(job).flat()) rows += spanRows(slotSpans(layout, part));
  return rows * roundUp8(job.c) <= job.maxSlotFloats;
}

/** The patches [k0, k1) of a band. */
function patchesOf(job: PatchContrastJob, [y0, y1]: [number, number]): [number, number] {
  const kw = job.w / job.patchSize;
  return [(y0 / job.patchSize) * kw, (y1 / job.patchSize) * kw];
}

/** Identity row map of `count` patches: a band's rows are its patches in order. */
const inOrder = (count: number) => Int32Array.from({ length: count }, (_, k) => k);

export function bandPoolTasks(job: PatchContrastJob, bands: [number, number][], z: Float32Array): PatchPoolTask[] {
  const { c, h, w, patchSize: p, memoryBytes } = job;
  const features = job.features as Float32Array;
  return bands.map((band) => {
    const [k0, k1] = patchesOf(job, band);
    const rows = { rowOf: inOrder(k1 - k0), rows: k1 - k0, zInto: z, zRows: job.rowOf.slice(k0, k1) };
    return { kind: 'patchPool', features, ...rows, c, h, w, p, band, memoryBytes };
  });
}

/**
 * Z in shared memory for the bands to write into, its padding rows (the rows no patch has: each
 * class block is rounded up to whole groups of 8) zeroed; its other rows are all written.
 */
export function sharedZ(job: PatchContrastJob, copies: CopyCache): Float32Array {
  const { n, pristine, np, forgedStart } = patchLayout(job.labels.length, job.pristine);
  const cp = roundUp8(job.c);
  const z = copies.take(np * cp, true);
  z.fill(0, pristine * cp, forgedStart * cp);
  z.fill(0, (forgedStart + n - pristine) * cp, np * cp);
  return z;
}

/** The bands' norms (in band order) placed at the image's rows, beside the Z they wrote. */
export function joinBandPools(pools: PatchPoolResult[], job: PatchContrastJob, z: Float32Array): PatchPoolResult {
  const norms = new Float64Array(z.length / roundUp8(job.c));
  let k0 = 0;
  for (const band of pools) {
    for (let i = 0; i < band.norms.length; i++) norms[job.rowOf[k0 + i]] = band.norms[i];
    k0 += band.norms.length;
  }
  return { spare: job.features as Float32Array, z, norms };
}

/**
 * Each band's backward task: it reads its patches' rows of the image's Z (shared memory) and of the
 * norms itself, sums its rows of dZ from the parts' slots (wasm/band-rows.ts) and writes its rows
 * of the gradient into `out` (shared memory).
 */
export function bandBackwardTasks(
  job: PatchContrastJob,
  bands: [number, number][],
  pool: Pick<PatchPoolResult, 'z' | 'norms'> & { out: Float32Array },
  dzSlots: DzSlot[],
): PatchBackwardTask[] {
  const { c, h, w, patchSize: p, memoryBytes } = job;
  return bands.map((band) => {
    const [k0, k1] = patchesOf(job, band);
    const rows = { rows: k1 - k0, z: pool.z, norms: pool.norms, at: job.rowOf.slice(k0, k1), dzSlots };
    return { kind: 'patchBackward', out: pool.out, ...rows, c, h, w, p, band, memoryBytes };
  });
}
