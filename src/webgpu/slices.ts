// How the WebGPU jobs cut their work to the device's limits: channel slices of an image's upload,
// strips of rows of the gradient weights, and the workgroup tiles (GpuRuntime.budgets, both also
// capped by maxStorageBufferBindingSize).

import type { Binding, GpuRuntime, Recorder } from './device.js';

/** Rows and columns of a workgroup tile of the similarity kernels. */
export const TILE = 32;

/** Workgroups of TILE over n. */
export const groups = (n: number) => Math.max(1, Math.ceil(n / TILE));

/** Channels per uploaded slice of a C × H·W image (each slice within the binding limit). */
export function channelsPerSlice(rt: GpuRuntime, c: number, hw: number): number {
  const budget = Math.min(rt.budgets.slice, rt.limits.maxBinding);
  rt.checkBinding(hw * 4, `one ${hw}-pixel channel plane`);
  return Math.max(1, Math.min(c, Math.floor(budget / (hw * 4))));
}

/** Rows per gradient-weight strip against `cols` columns (a multiple of the tile). */
export function stripRows(rt: GpuRuntime, rows: number, cols: number): number {
  const budget = Math.min(rt.budgets.strip, rt.limits.maxBinding);
  const fit = Math.floor(budget / (cols * 4) / TILE) * TILE;
  if (fit < TILE) rt.checkBinding(TILE * cols * 4, `a ${TILE}-row strip of ${cols} similarities`);
  return Math.max(TILE, Math.min(fit, groups(rows) * TILE));
}

/** Runs `each(i0, r)` over strips of rows [i0, i0 + r) of `rows` rows against `cols` columns. */
export function inStrips(rt: GpuRuntime, rows: number, cols: number, each: (i0: number, r: number) => void): void {
  const per = stripRows(rt, rows, cols);
  for (let i0 = 0; i0 < rows; i0 += per) each(i0, Math.min(per, rows - i0));
}

/** Uploads each channel slice of an image and runs `each` on it. */
export function uploadSlices(
  rec: Recorder,
  feat: Binding,
  features: Float32Array,
  [c, hw, perSlice]: [number, number, number],
  each: (c0: number, cn: number) => void,
): void {
  for (let c0 = 0; c0 < c; c0 += perSlice) {
    const cn = Math.min(perSlice, c - c0);
    rec.write(feat, 0, features.subarray(c0 * hw, (c0 + cn) * hw));
    each(c0, cn);
  }
}
