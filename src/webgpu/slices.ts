// How the WebGPU jobs cut their work to the device's limits: channel slices of an image's upload,
// strips of rows of the gradient weights, and the workgroup tiles (Lane.budgets, both also capped
// by maxStorageBufferBindingSize).

import type { Binding, Lane } from './lane.js';
import type { Recorder } from './recorder.js';
import { type FloatSource, put } from './source.js';

/** Rows and columns of a workgroup tile of the similarity kernels. */
export const TILE = 32;

/** Workgroups of TILE over n. */
export const groups = (n: number) => Math.max(1, Math.ceil(n / TILE));

/** Channels per uploaded slice of a C × H·W image (each slice within the binding limit). */
export function channelsPerSlice(lane: Lane, c: number, hw: number): number {
  const budget = Math.min(lane.budgets.slice, lane.limits.maxBinding);
  lane.checkBinding(hw * 4, `one ${hw}-pixel channel plane`);
  return Math.max(1, Math.min(c, Math.floor(budget / (hw * 4))));
}

/** Rows per gradient-weight strip against `cols` columns (a multiple of the tile). */
export function stripRows(lane: Lane, rows: number, cols: number): number {
  const budget = Math.min(lane.budgets.strip, lane.limits.maxBinding);
  const fit = Math.floor(budget / (cols * 4) / TILE) * TILE;
  if (fit < TILE) lane.checkBinding(TILE * cols * 4, `a ${TILE}-row strip of ${cols} similarities`);
  return Math.max(TILE, Math.min(fit, groups(rows) * TILE));
}

/** Runs `each(i0, r)` over strips of rows [i0, i0 + r) of `rows` rows against `cols` columns. */
export function inStrips(lane: Lane, rows: number, cols: number, each: (i0: number, r: number) => void): void {
  const per = stripRows(lane, rows, cols);
  for (let i0 = 0; i0 < rows; i0 += per) each(i0, Math.min(per, rows - i0));
}

/**
 * An image's C × H·W features: where they come from and the float index of their first value. A
 * `stack` of images side by side (infoNCE's scope 'batch' from a GPU buffer) is gathered from the
 * caller's (B, C, H·W) layout channel by channel, image by image.
 */
export interface ImageSource {
  src: FloatSource;
  first: number;
  stack?: { images: number; hw: number };
  /** Records the non-finite check of `count` floats put into `data` (features from a GPU buffer). */
  check?: (rec: Recorder, data: Binding, count: number) => void;
}

/** Puts each channel slice of an image into `feat` (checked, from a GPU buffer) and runs `each` on it. */
export function uploadSlices(
  rec: Recorder,
  feat: Binding,
  image: ImageSource,
  [c, hw, perSlice]: [number, number, number],
  each: (c0: number, cn: number) => void,
): void {
  for (let c0 = 0; c0 < c; c0 += perSlice) {
    const cn = Math.min(perSlice, c - c0);
    const stack = image.stack;
    if (!stack) put(rec, image.src, image.first + c0 * hw, cn * hw, feat);
    else
      for (let ch = 0; ch < cn; ch++)
        for (let b = 0; b < stack.images; b++) {
          const from = image.first + (b * c + c0 + ch) * stack.hw;
          put(rec, image.src, from, stack.hw, feat, (ch * hw + b * stack.hw) * 4);
        }
    image.check?.(rec, feat, cn * hw);
    each(c0, cn);
  }
}
