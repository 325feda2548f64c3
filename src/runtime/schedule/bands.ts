// One patchContrast image in bands of patch rows, so that its pooling and backward pass run on
// every worker when the call has fewer images than threads (docs/design.md §9). Both stages work
// patch by patch, so a band gives each patch the bits the whole image gives it: a band pools its
// patches into rows in patch order, which are placed here at the rows the image's row map gives
// them, and the band count may follow the thread count. The workers read their bands from, and
// write their gradients into, the image's features copy, which is therefore shared memory
// (runtime/copies.ts); without it an image is one band.

import { isShared } from '../copies.js';
import { roundUp8 } from '../wasm/layout.js';
import type { PatchBackwardTask, PatchPoolResult, PatchPoolTask } from '../wasm/protocol.js';
import type { PatchContrastJob } from './jobs.js';
import { moved } from './plan.js';

/** Pixel rows [y0, y1) of each band, whole patch rows, as even as they allow; one band: the whole image. */
export function planBands(job: PatchContrastJob, threads: number): [number, number][] {
  const p = job.patchSize,
    kh = job.h / p;
  const count = threads > 1 && isShared(job.features) ? Math.min(kh, Math.ceil(threads / job.images)) : 1;
  return Array.from({ length: count }, (_, i): [number, number] => [
    Math.floor((i * kh) / count) * p,
    Math.floor(((i + 1) * kh) / count) * p,
  ]);
}

/** The patches [k0, k1) of a band. */
function patchesOf(job: PatchContrastJob, [y0, y1]: [number, number]): [number, number] {
  const kw = job.w / job.patchSize;
  return [(y0 / job.patchSize) * kw, (y1 / job.patchSize) * kw];
}

/** Identity row map of `count` patches: a band's rows are its patches in order. */
const inOrder = (count: number) => Int32Array.from({ length: count }, (_, k) => k);

export function bandPoolTasks(job: PatchContrastJob, bands: [number, number][]): PatchPoolTask[] {
  const { features, c, h, w, patchSize: p, memoryBytes } = job;
  return bands.map((band) => {
    const [k0, k1] = patchesOf(job, band);
    return { kind: 'patchPool', features, rowOf: inOrder(k1 - k0), rows: k1 - k0, c, h, w, p, band, memoryBytes };
  });
}

/** The bands' Z and norms (in band order) placed at the image's rows. */
export function joinBandPools(pools: PatchPoolResult[], job: PatchContrastJob, np: number): PatchPoolResult {
  const cp = roundUp8(job.c);
  const z = new Float32Array(np * cp),
    norms = new Float64Array(np);
  let k0 = 0;
  for (const band of pools) {
    for (let i = 0; i < band.norms.length; i++) {
      const row = job.rowOf[k0 + i];
      z.set(band.z.subarray(i * cp, (i + 1) * cp), row * cp);
      norms[row] = band.norms[i];
    }
    k0 += band.norms.length;
  }
  return { spare: job.features, z, norms };
}

/** Each band's backward task: its patches' rows of Z, dZ and the norms, in patch order. */
export function bandBackwardTasks(
  job: PatchContrastJob,
  bands: [number, number][],
  pool: PatchPoolResult,
  dz: Float32Array,
): [PatchBackwardTask, ArrayBuffer[]][] {
  const { c, h, w, patchSize: p, memoryBytes } = job;
  const cp = roundUp8(c);
  return bands.map((band) => {
    const [k0, k1] = patchesOf(job, band);
    const rows = {
      z: new Float32Array((k1 - k0) * cp),
      dz: new Float32Array((k1 - k0) * cp),
      norms: new Float64Array(k1 - k0),
    };
    for (let i = 0; i < k1 - k0; i++) {
      const row = job.rowOf[k0 + i];
      rows.z.set(pool.z.subarray(row * cp, (row + 1) * cp), i * cp);
      rows.dz.set(dz.subarray(row * cp, (row + 1) * cp), i * cp);
      rows.norms[i] = pool.norms[row];
    }
    const task: PatchBackwardTask = {
      kind: 'patchBackward',
      ...{ out: job.features, rows: k1 - k0, ...rows, rowOf: inOrder(k1 - k0) },
      ...{ c, h, w, p, band, memoryBytes },
    };
    return [task, moved(rows.z, rows.dz, rows.norms)];
  });
}
