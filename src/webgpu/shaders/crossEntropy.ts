// Cross-entropy, as assembly/cross_entropy.ts: one invocation per pixel of a chunk of `images`
// images × `len` pixels (each image's C class planes of `len` values). Per-workgroup partial sums
// of the per-element losses are reduced in float64 on the CPU.

import { defineKernel, perItemReduced } from './kernel.js';

/** The parameters both cross-entropy kernels read. */
const CE_PARAMS = {
  images: 'u32',
  c: 'u32',
  /** Pixels of each image in this chunk. */
  len: 'u32',
  /** Index targets only. */
  ignoreIndex: 'i32',
  /** Nonzero: write the per-element losses. */
  perElement: 'u32',
  /** Nonzero: write the gradient. */
  withGrad: 'u32',
  // Where the chunk lies in the caller's logits (for the indices of non-finite values): H·W, and
  // the chunk's first image and first pixel.
  hw: 'u32',
  firstImage: 'u32',
  firstPixel: 'u32',
  /** Label smoothing ε, the gradient's scale, and Σw (float32). */
  smoothing: 'f32',
  gradScale: 'f32',
  weightSum: 'f32',
} as const;

const CE_COMMON = /* wgsl */ `
var<workgroup> red: array<f32, 64>;
fn reduceLoss(loss: f32, lid: u32, slot: u32) {
  red[lid] = loss;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half = half / 2u) {
    if (lid < half) { red[lid] += red[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[slot] = red[0]; }
}
fn checkFinite(x: f32, at: u32, which: u32) {
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { atomicMin(&bad[which], at); }
}
// The caller's flat index of class k of chunk pixel (bi, e).
fn callerIndex(bi: u32, k: u32, e: u32) -> u32 { return ((P.firstImage + bi) * P.c + k) * P.hw + P.firstPixel + e; }
`;

/** The bindings both kernels have after the logits and the targets, in binding order. */
const CE_OUTPUTS = {
  weights: ['read', 'f32'],
  per: ['read_write', 'f32'],
  grad: ['read_write', 'f32'],
  partial: ['read_write', 'f32'],
  bad: ['read_write', 'atomic<u32>'],
} as const;

/**
 * The entry of both kernels: one invocation per pixel of the chunk (`bi`, `e`; its class k at
 * `base + k·len`), `body` setting its `loss`, then the workgroup's sum of the losses.
 */
const perPixel = (body: string) =>
  perItemReduced(
    'id',
    /* wgsl */ `  var loss = 0.0;
  if (id < P.images * P.len) {
    let c = P.c;
    let bi = id / P.len;
    let e = id % P.len;
    let base = bi * c * P.len + e;
${body}
  }
  reduceLoss(loss, lid, wid.x + wid.y * nwg.x);`,
  );

/** Index targets: the loss with label smoothing and class weights, skipping ignoreIndex. */
export const CE_INDEX = defineKernel({
  label: 'ceIndex',
  params: CE_PARAMS,
  bindings: { logits: ['read', 'f32'], tgt: ['read', 'i32'], ...CE_OUTPUTS },
  body: `${CE_COMMON}
${perPixel(/* wgsl */ `
    let y = tgt[id];
    let valid = y != P.ignoreIndex;
    var m = logits[base];
    var xy = 0.0;
    var wy = 0.0;
    for (var k = 0u; k < c; k++) {
      let x = logits[base + k * P.len];
      checkFinite(x, callerIndex(bi, k, e), 0u);
      m = max(m, x);
      if (i32(k) == y) { xy = x; wy = weights[k]; }
    }
    var s = 0.0;
    var swd = 0.0;
    for (var k = 0u; k < c; k++) {
      let d = logits[base + k * P.len] - m;
      s += exp(d);
      swd -= weights[k] * d;
    }
    let logS = log(s);
    let keep = 1.0 - P.smoothing;
    let share = P.smoothing / f32(c);
    loss = keep * wy * ((m - xy) + logS);
    if (P.smoothing != 0.0) { loss += share * (swd + P.weightSum * logS); }
    if (!valid) { loss = 0.0; }
    if (P.perElement != 0u) { per[id] = loss; }
    if (P.withGrad != 0u) {
      let scale = select(0.0, P.gradScale, valid);
      let beta = keep * wy * scale;
      let alpha = (keep * wy + share * P.weightSum) / s * scale;
      for (var k = 0u; k < c; k++) {
        var g = exp(logits[base + k * P.len] - m) * alpha;
        if (i32(k) == y) { g -= beta; }
        if (P.smoothing != 0.0) { g -= share * weights[k] * scale; }
        grad[base + k * P.len] = g;
      }
    }`)}`,
});

/** Probability targets: per_e = −Σ_c w_c q'_c l_c (q' the smoothed probabilities); ignoreIndex unused. */
export const CE_PROBS = defineKernel({
  label: 'ceProbs',
  params: CE_PARAMS,
  bindings: { logits: ['read', 'f32'], probs: ['read', 'f32'], ...CE_OUTPUTS },
  body: `${CE_COMMON}
${perPixel(/* wgsl */ `
    var m = logits[base];
    for (var k = 0u; k < c; k++) {
      let x = logits[base + k * P.len];
      checkFinite(x, callerIndex(bi, k, e), 0u);
      checkFinite(probs[base + k * P.len], callerIndex(bi, k, e), 1u);
      m = max(m, x);
    }
    let keep = 1.0 - P.smoothing;
    let share = P.smoothing / f32(c);
    var s = 0.0;
    var wq = 0.0;
    var wqd = 0.0;
    for (var k = 0u; k < c; k++) {
      let o = base + k * P.len;
      let d = logits[o] - m;
      s += exp(d);
      let wqk = weights[k] * (keep * probs[o] + share);
      wq += wqk;
      wqd += wqk * d;
    }
    loss = wq * log(s) - wqd;
    if (P.perElement != 0u) { per[id] = loss; }
    if (P.withGrad != 0u) {
      let alpha = wq / s * P.gradScale;
      for (var k = 0u; k < c; k++) {
        let o = base + k * P.len;
        let wqk = weights[k] * (keep * probs[o] + share);
        grad[o] = exp(logits[o] - m) * alpha - wqk * P.gradScale;
      }
    }`)}`,
});
