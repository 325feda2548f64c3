// Between the CHW features of one image (one channel slice of it at a time) and the row matrices of
// the contrastive losses (rows × C, row-major, unpadded float32), as assembly/pooling.ts: p×p average
// pooling into sorted patch rows, its backward pass, and the gather of selected pixels.

import { defineKernel, perItem } from './kernel.js';

/** The image and slice geometry the pooling kernels share (a slice is channels cOff.. of the rows). */
const POOL_PARAMS = {
  /** Channels of a row (C). */
  c: 'u32',
  /** Image width and height. */
  w: 'u32',
  h: 'u32',
  /** Patch side p and patches per image row (W/p). */
  patchSize: 'u32',
  kw: 'u32',
  /** The slice's first channel. */
  cOff: 'u32',
  /** 1/p². */
  invArea: 'f32',
} as const;

/** z[row][cOff + cl] = mean of the patch patchOf[row] of slice channel cl, for `rows` rows × sliceC channels. */
export const POOL = defineKernel({
  label: 'pool',
  params: { rows: 'u32', sliceC: 'u32', ...POOL_PARAMS },
  bindings: { feat: ['read', 'f32'], patchOf: ['read', 'u32'], z: ['read_write', 'f32'] },
  body: perItem(
    'id',
    'P.rows * P.sliceC',
    /* wgsl */ `
  let row = id / P.sliceC;
  let cl = id % P.sliceC;
  let pat = patchOf[row];
  let r = pat / P.kw;
  let q = pat % P.kw;
  var s = 0.0;
  for (var y = 0u; y < P.patchSize; y++) {
    let base = (cl * P.h + r * P.patchSize + y) * P.w + q * P.patchSize;
    for (var x = 0u; x < P.patchSize; x++) { s += feat[base + x]; }
  }
  z[row * P.c + P.cOff + cl] = s * P.invArea;`,
  ),
});

/** Backward of POOL for one channel slice of `count` values: g[cl][y][x] = dz[rowOf[patch(y, x)]][cOff + cl] / p². */
export const POOL_BACK = defineKernel({
  label: 'poolBack',
  params: { count: 'u32', ...POOL_PARAMS },
  bindings: { dz: ['read', 'f32'], rowOf: ['read', 'u32'], g: ['read_write', 'f32'] },
  body: perItem(
    'id',
    'P.count',
    /* wgsl */ `
  let plane = P.h * P.w;
  let cl = id / plane;
  let rem = id % plane;
  let y = rem / P.w;
  let x = rem % P.w;
  let pat = (y / P.patchSize) * P.kw + x / P.patchSize;
  g[id] = dz[rowOf[pat] * P.c + P.cOff + cl] * P.invArea;`,
  ),
});

/** Gathers pixel rows of a channel slice: outRows[row][cOff + cl] = feat[cl][idx[row]]. */
export const GATHER = defineKernel({
  label: 'gather',
  params: { rows: 'u32', c: 'u32', hw: 'u32', cOff: 'u32', sliceC: 'u32' },
  bindings: { feat: ['read', 'f32'], idx: ['read', 'u32'], outRows: ['read_write', 'f32'] },
  body: perItem(
    'id',
    'P.rows * P.sliceC',
    /* wgsl */ `
  let row = id / P.sliceC;
  let cl = id % P.sliceC;
  outRows[row * P.c + P.cOff + cl] = feat[cl * P.hw + idx[row]];`,
  ),
});
