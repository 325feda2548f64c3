// What a sync call on the device adds to the losses' kernels so that nothing is read back: the
// loss sums (one workgroup, a tree over 64 running sums), the NaN of a call that met a non-finite
// input, the non-finite check of copied features, and infoNCE's gradient scatter.

import { defineKernel, perItem } from './kernel.js';

/** The 'no bad value' index of the `bad` words (also crossEntropy's). */
const NONE = '0xffffffffu';

/** out[slot] = scale · Σ_i (src[i·stride + a] − (minus ? src[i·stride + b] : 0)) over `count` rows. */
export const SUM_SCALED = defineKernel({
  label: 'sumScaled',
  params: { count: 'u32', stride: 'u32', a: 'u32', b: 'u32', minus: 'u32', scale: 'f32', slot: 'u32' },
  bindings: { src: ['read', 'f32'], out: ['read_write', 'f32'] },
  body: /* wgsl */ `
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < P.count; i += 64u) {
    var v = src[i * P.stride + P.a];
    if (P.minus != 0u) { v -= src[i * P.stride + P.b]; }
    s += v;
  }
  red[lid] = s;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half = half / 2u) {
    if (lid < half) { red[lid] += red[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[P.slot] = red[0] * P.scale; }
}`,
});

/** x[0..count) = NaN when a non-finite input was met (bad[0] or bad[1] holds an index). */
export const NAN_IF_BAD = defineKernel({
  label: 'nanIfBad',
  // The NaN comes in as bits: a constant NaN is a shader-creation error in WGSL.
  params: { count: 'u32', nanBits: 'u32' },
  bindings: { bad: ['read', 'u32'], x: ['read_write', 'f32'] },
  body: perItem(
    'id',
    'P.count',
    /* wgsl */ `
  if (bad[0] != ${NONE} || bad[1] != ${NONE}) { x[id] = bitcast<f32>(P.nanBits); }`,
  ),
});

/** bad[0] = 0 when one of `count` values of x is not finite. */
export const FLAG_NON_FINITE = defineKernel({
  label: 'flagNonFinite',
  params: { count: 'u32' },
  bindings: { x: ['read', 'f32'], bad: ['read_write', 'atomic<u32>'] },
  body: perItem(
    'id',
    'P.count',
    /* wgsl */ `
  if ((bitcast<u32>(x[id]) & 0x7f800000u) == 0x7f800000u) { atomicStore(&bad[0], 0u); }`,
  ),
});

/**
 * One channel slice of an image's gradient from rows at pixels: out[cl][k mod hw] = rows[r][cOff + cl]
 * for the rows whose (stacked) pixel k = idx[r] lies in image `img` (k div hw = img).
 */
export const SCATTER_ROWS = defineKernel({
  label: 'scatterRows',
  params: { rows: 'u32', c: 'u32', hw: 'u32', cOff: 'u32', sliceC: 'u32', img: 'u32' },
  bindings: { src: ['read', 'f32'], idx: ['read', 'u32'], out: ['read_write', 'f32'] },
  body: perItem(
    'id',
    'P.rows * P.sliceC',
    /* wgsl */ `
  let row = id / P.sliceC;
  let cl = id % P.sliceC;
  let k = idx[row];
  if (k / P.hw != P.img) { return; }
  out[cl * P.hw + k % P.hw] = src[row * P.c + P.cOff + cl];`,
  ),
});
