// Pixel cross-entropy on (B, C, H, W) logits, value and gradient in one pass over the logits:
// exactly torch.nn.functional.cross_entropy (spec section 3). Four neighbouring pixels share a
// vector (lanes = pixels, the class axis strided by H·W), so any C vectorizes. A tail of fewer
// than 4 pixels goes through a 4-pixel scratch group with the same code.

import { alloc } from './memory';
import { addWide, expv, hsumWide, logv, madd } from './simd_math';

// `scratch` (16 + 48·C bytes) holds the tail group: targets, then C × 4 lanes of logits,
// probabilities and gradient.
const TARGET_U8: i32 = 1;
const TARGET_U16: i32 = 2;

// @ts-ignore: decorator
@inline function loadTarget(src: usize, kind: i32, i: i32): i32 {
  if (kind == TARGET_U8) return <i32>load<u8>(src + <usize>i);
  if (kind == TARGET_U16) return <i32>load<u16>(src + (<usize>i << 1));
  return load<i32>(src + (<usize>i << 2));
}

/**
 * Checks index targets (read in their own type: the kernels convert on the fly): returns the
 * first index whose target is neither in [0, C) nor `ignoreIndex`, or -1. `kind`: 0 int32,
 * 1 uint8, 2 uint16.
 * Writes Σ w_{y} over the valid targets (the "mean" normalizer, float64) to `normalizerOut`,
 * from per-class counts (exact integers, so the sum is as exact as float64 allows).
 * `counts` is scratch for C + 1 int32 values.
 */
export function crossEntropyPrepareTargets(src: usize, kind: i32, n: i32, c: i32, ignoreIndex: i32, weights: usize, normalizerOut: usize, counts: usize): i32 {
  const ignore = i32x4.splat(ignoreIndex), classes = i32x4.splat(c);
  let i = 0;
  // Vector pass: stop at the first group holding a target out of range.
  for (; i + 4 <= n; i += 4) {
    const y = loadTargets4(src, kind, i);
    // Unsigned y < C also rejects negative targets.
    const bad = v128.andnot(v128.not(i32x4.lt_u(y, classes)), i32x4.eq(y, ignore));
    if (v128.any_true(bad)) break;
  }
  for (; i < n; i++) {
    const y = loadTarget(src, kind, i);
    if (y != ignoreIndex && <u32>y >= <u32>c) return i;
  }
  // Per-class counts: a vector compare per class for small C, else four interleaved histograms
  // (consecutive pixels mostly share a class, and one histogram would serialize on its counter).
  if (c <= 16) {
    for (let k = 0; k < c; k++) {
      const kv = i32x4.splat(k);
      let cnt = i32x4.splat(0);
      let j = 0;
      for (; j + 4 <= n; j += 4) cnt = i32x4.sub(cnt, i32x4.eq(loadTargets4(src, kind, j), kv));
      let total = i32x4.extract_lane(cnt, 0) + i32x4.extract_lane(cnt, 1) + i32x4.extract_lane(cnt, 2) + i32x4.extract_lane(cnt, 3);
      for (; j < n; j++) if (loadTarget(src, kind, j) == k) total++;
      // A class index equal to ignoreIndex is ignored, not counted.
      store<i32>(counts + (<usize>k << 2), k == ignoreIndex ? 0 : total);
    }
  } else {
    const stride = (<usize>c + 1) << 2;
    const h = alloc(stride * 4);
    memory.fill(h, 0, stride * 4);
    for (let j = 0; j < n; j++) {
      const y = loadTarget(src, kind, j);
      if (y == ignoreIndex) continue;
      const slot = h + <usize>(j & 3) * stride + (<usize>y << 2);
      store<i32>(slot, load<i32>(slot) + 1);
    }
    for (let k = 0; k < c; k++) {
      let total = 0;
      for (let q = 0; q < 4; q++) total += load<i32>(h + <usize>q * stride + (<usize>k << 2));
      store<i32>(counts + (<usize>k << 2), total);
    }
  }
  let norm: f64 = 0;
  for (let k = 0; k < c; k++) norm += <f64>load<i32>(counts + (<usize>k << 2)) * load<f64>(weights + (<usize>k << 3));
  store<f64>(normalizerOut, norm);
  return -1;
}

// @ts-ignore: decorator
@inline function loadTargets4(src: usize, kind: i32, i: i32): v128 {
  if (kind == TARGET_U8) return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(src + <usize>i)));
  if (kind == TARGET_U16) return i32x4.extend_low_i16x8_u(v128.load64_zero(src + (<usize>i << 1)));
  return v128.load(src + (<usize>i << 2));
}

/**
 * Index targets. For every pixel e with target y (of type `kind`, as in crossEntropyPrepareTargets; `ignoreIndex` skips it):
 *   per_e = (1−ε)·w_y·(−l_y) + (ε/C)·Σ_c w_c·(−l_c),   l = log_softmax over classes,
 * returns Σ_e per_e (float64). `weights` are C float32 values. When `perElement` ≠ 0 it receives
 * per_e (B·H·W floats); when `grad` ≠ 0 it receives gradScale · ∂per_e/∂logits.
 */
export function crossEntropyIndex(logits: usize, target: usize, kind: i32, weights: usize, b: i32, c: i32, hw: i32, ignoreIndex: i32, smoothing: f32, gradScale: f32, perElement: usize, grad: usize, scratch: usize): f64 {
  let acc = f64x2.splat(0);
  const planeBytes = <usize>hw << 2;
  // Hoisted out of the pixel loop: the two-class path's per-class constants.
  const k = memory.data(160, 16);
  if (c == 2) binaryConstants(weights, smoothing, gradScale, k);
  for (let img = 0; img < b; img++) {
    const base = <usize>img * <usize>c * planeBytes;
    let i = 0;
    if (c == 2) {
      // Two independent groups per iteration: exp and log are long dependency chains, and two of
      // them side by side keep the vector units busy.
      for (; i + 16 <= hw; i += 16) {
        const off = <usize>i << 2;
        const e = img * hw + i;
        const x = logits + base + off, g = grad != 0 ? grad + base + off : 0;
        const la = binaryGroup(x, planeBytes, loadTargets4(target, kind, e), k, ignoreIndex, g);
        const lb = binaryGroup(x + 16, planeBytes, loadTargets4(target, kind, e + 4), k, ignoreIndex, g != 0 ? g + 16 : 0);
        const lc = binaryGroup(x + 32, planeBytes, loadTargets4(target, kind, e + 8), k, ignoreIndex, g != 0 ? g + 32 : 0);
        const ld = binaryGroup(x + 48, planeBytes, loadTargets4(target, kind, e + 12), k, ignoreIndex, g != 0 ? g + 48 : 0);
        if (perElement != 0) {
          const pe = perElement + (<usize>e << 2);
          v128.store(pe, la); v128.store(pe, lb, 16); v128.store(pe, lc, 32); v128.store(pe, ld, 48);
        }
        acc = addWide(addWide(acc, f32x4.add(la, lb)), f32x4.add(lc, ld));
      }
    }
    for (; i + 4 <= hw; i += 4) {
      const off = <usize>i << 2;
      const e = img * hw + i;
      const y = loadTargets4(target, kind, e);
      const x = logits + base + off, g = grad != 0 ? grad + base + off : 0;
      const loss = c == 2
        ? binaryGroup(x, planeBytes, y, k, ignoreIndex, g)
        : indexGroup(x, planeBytes, y, weights, c, ignoreIndex, smoothing, gradScale, g);
      if (perElement != 0) v128.store(perElement + (<usize>e << 2), loss);
      acc = addWide(acc, loss);
    }
    if (i < hw) {
      // Tail: copy the remaining pixels into a 4-lane scratch group (padding lanes are ignored).
      const left = hw - i;
      const y = scratch;
      for (let l = 0; l < 4; l++) store<i32>(y + (<usize>l << 2), l < left ? loadTarget(target, kind, img * hw + i + l) : ignoreIndex);
      const xs = scratch + 16, gs = xs + (<usize>c << 4);
      for (let k = 0; k < c; k++) {
        for (let l = 0; l < 4; l++) {
          store<f32>(xs + (<usize>k << 4) + (<usize>l << 2), l < left ? load<f32>(logits + base + <usize>k * planeBytes + (<usize>(i + l) << 2)) : 0);
        }
      }
      const loss = indexGroup(xs, 16, v128.load(y), weights, c, ignoreIndex, smoothing, gradScale, grad != 0 ? gs : 0);
      for (let l = 0; l < left; l++) {
        const e = img * hw + i + l;
        if (perElement != 0) store<f32>(perElement + (<usize>e << 2), laneOf(loss, l));
        if (grad != 0) {
          for (let k = 0; k < c; k++) store<f32>(grad + base + <usize>k * planeBytes + (<usize>(i + l) << 2), load<f32>(gs + (<usize>k << 4) + (<usize>l << 2)));
        }
      }
      acc = addWide(acc, loss);
    }
  }
  return hsumWide(acc);
}

// @ts-ignore: decorator
@inline function laneOf(v: v128, l: i32): f32 {
  if (l == 0) return f32x4.extract_lane(v, 0);
  if (l == 1) return f32x4.extract_lane(v, 1);
  if (l == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

/**
 * Two classes (the forged / pristine case), one group of 4 pixels: with d = x1 − x0,
 * −l0 = softplus(d) and −l1 = softplus(−d) share one exp and one log, and p1 = σ(d).
 * Same results as indexGroup to float32 rounding, in about a third of the instructions.
 */
// @ts-ignore: decorator
@inline function binaryGroup(x: usize, stride: usize, y: v128, k: usize, ignoreIndex: i32, g: usize): v128 {
  const valid = v128.not(i32x4.eq(y, i32x4.splat(ignoreIndex)));
  const isOne = i32x4.eq(y, i32x4.splat(1));
  const x0 = v128.load(x), x1 = v128.load(x + stride);
  const d = f32x4.sub(x1, x0);
  const e = expv(f32x4.neg(f32x4.abs(d)));                 // exp(−|d|) in (0, 1]
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  const l1p = logv(f32x4.add(one, e));
  const nll0 = f32x4.add(f32x4.pmax(d, zero), l1p);
  const nll1 = f32x4.add(f32x4.pmax(f32x4.neg(d), zero), l1p);
  // Per-class constants (binaryConstants): the loss is kw_y·nll_y + ls0·nll0 + ls1·nll1.
  let loss = f32x4.mul(v128.bitselect(v128.load(k, 16), v128.load(k), isOne), v128.bitselect(nll1, nll0, isOne));
  loss = madd(v128.load(k, 32), nll0, madd(v128.load(k, 48), nll1, loss));
  loss = v128.and(loss, valid);
  if (g != 0) {
    // p1 = σ(d), p0 = σ(−d), each from the same 1/(1 + e) so the small one keeps its precision.
    const inv = f32x4.div(one, f32x4.add(one, e));
    const small = f32x4.mul(e, inv);
    const positive = f32x4.ge(d, zero);
    const p1 = v128.bitselect(inv, small, positive), p0 = v128.bitselect(small, inv, positive);
    // ∂/∂x_c = α_y·p_c − β_y·[c = y] − γ_c, with the class's α, β, γ premultiplied by gradScale.
    const alpha = v128.and(v128.bitselect(v128.load(k, 80), v128.load(k, 64), isOne), valid);
    const g0 = f32x4.sub(f32x4.mul(alpha, p0), v128.and(v128.bitselect(v128.load(k, 128), v128.load(k, 96), isOne), valid));
    const g1 = f32x4.sub(f32x4.mul(alpha, p1), v128.and(v128.bitselect(v128.load(k, 144), v128.load(k, 112), isOne), valid));
    v128.store(g, g0);
    v128.store(g + stride, g1);
  }
  return loss;
}

/**
 * The per-class constants of binaryGroup, 10 splatted vectors at `k` (160 bytes): the loss
 * factors kw0, kw1 = (1−ε)·w_c and ls0, ls1 = (ε/2)·w_c; then, times gradScale, α0, α1 =
 * (1−ε)·w_y + (ε/2)·W, and the subtracted terms of each logit's gradient when y = 0 (γ0 + β0,
 * γ1) and when y = 1 (γ0, γ1 + β1), with β_c = (1−ε)·w_c and γ_c = (ε/2)·w_c.
 */
function binaryConstants(weights: usize, smoothing: f32, gradScale: f32, k: usize): void {
  const w0 = load<f32>(weights), w1 = load<f32>(weights, 4);
  const keep: f32 = 1 - smoothing, share: f32 = smoothing * 0.5;
  const gs = gradScale, total = w0 + w1;
  v128.store(k, f32x4.splat(keep * w0));
  v128.store(k, f32x4.splat(keep * w1), 16);
  v128.store(k, f32x4.splat(share * w0), 32);
  v128.store(k, f32x4.splat(share * w1), 48);
  v128.store(k, f32x4.splat((keep * w0 + share * total) * gs), 64);
  v128.store(k, f32x4.splat((keep * w1 + share * total) * gs), 80);
  v128.store(k, f32x4.splat((share * w0 + keep * w0) * gs), 96);
  v128.store(k, f32x4.splat(share * w1 * gs), 112);
  v128.store(k, f32x4.splat(share * w0 * gs), 128);
  v128.store(k, f32x4.splat((share * w1 + keep * w1) * gs), 144);
}

/** One group of 4 pixels: returns their 4 losses; writes the scaled gradient when g ≠ 0. */
function indexGroup(x: usize, stride: usize, y: v128, weights: usize, c: i32, ignoreIndex: i32, smoothing: f32, gradScale: f32, g: usize): v128 {
  const valid = v128.not(i32x4.eq(y, i32x4.splat(ignoreIndex)));
  // Pass 1: the maximum over classes, the target logit and its weight.
  let m = v128.load(x);
  let xy = f32x4.splat(0), wy = f32x4.splat(0);
  for (let k = 0; k < c; k++) {
    const xk = v128.load(x + <usize>k * stride);
    m = f32x4.pmax(m, xk);
    const hit = i32x4.eq(y, i32x4.splat(k));
    xy = v128.bitselect(xk, xy, hit);
    wy = v128.bitselect(f32x4.splat(load<f32>(weights + (<usize>k << 2))), wy, hit);
  }
  // Pass 2: Σ exp(x − m) and, for smoothing, Σ w_c·(m − x_c) and Σ w_c.
  let s = f32x4.splat(0), swd = f32x4.splat(0);
  let wsum: f32 = 0;
  for (let k = 0; k < c; k++) {
    const d = f32x4.sub(v128.load(x + <usize>k * stride), m);
    const e = expv(d);
    s = f32x4.add(s, e);
    if (g != 0) v128.store(g + <usize>k * stride, e);
    const wk = load<f32>(weights + (<usize>k << 2));
    wsum += wk;
    swd = f32x4.sub(swd, f32x4.mul(f32x4.splat(wk), d));
  }
  const logS = logv(s);
  const keep = f32x4.splat(1 - smoothing), share = f32x4.splat(smoothing / <f32>c);
  // −l_y = (m − x_y) + ln s;  Σ_c w_c(−l_c) = Σ_c w_c (m − x_c) + W ln s.
  const nll = f32x4.add(f32x4.sub(m, xy), logS);
  let loss = f32x4.mul(f32x4.mul(keep, wy), nll);
  if (smoothing != 0) loss = f32x4.add(loss, f32x4.mul(share, f32x4.add(swd, f32x4.mul(f32x4.splat(wsum), logS))));
  loss = v128.and(loss, valid);
  if (g != 0) {
    // ∂per/∂x_c = α·p_c − β·[c = y] − γ_c with α = (1−ε)w_y + (ε/C)W, β = (1−ε)w_y, γ_c = (ε/C)w_c.
    const scale = v128.and(f32x4.splat(gradScale), valid);
    const beta = f32x4.mul(f32x4.mul(keep, wy), scale);
    const alpha = f32x4.div(f32x4.add(f32x4.mul(keep, wy), f32x4.mul(share, f32x4.splat(wsum))), s);
    const alphaScaled = f32x4.mul(alpha, scale);
    for (let k = 0; k < c; k++) {
      const p = g + <usize>k * stride;
      let gk = f32x4.mul(v128.load(p), alphaScaled);
      gk = f32x4.sub(gk, v128.and(beta, i32x4.eq(y, i32x4.splat(k))));
      if (smoothing != 0) gk = f32x4.sub(gk, f32x4.mul(f32x4.mul(share, f32x4.splat(load<f32>(weights + (<usize>k << 2)))), scale));
      v128.store(p, gk);
    }
  }
  return loss;
}

/**
 * Probability targets q (B, C, H, W): per_e = −Σ_c w_c·q'_c·l_c with q' = (1−ε)q + ε/C.
 * Returns Σ_e per_e; `perElement` and `grad` as in crossEntropyIndex.
 */
export function crossEntropyProbs(logits: usize, probs: usize, weights: usize, b: i32, c: i32, hw: i32, smoothing: f32, gradScale: f32, perElement: usize, grad: usize, scratch: usize): f64 {
  let acc = f64x2.splat(0);
  const planeBytes = <usize>hw << 2;
  for (let img = 0; img < b; img++) {
    const base = <usize>img * <usize>c * planeBytes;
    let i = 0;
    for (; i + 4 <= hw; i += 4) {
      const off = <usize>i << 2;
      const e = img * hw + i;
      const loss = probsGroup(logits + base + off, probs + base + off, planeBytes, weights, c, smoothing, gradScale, grad != 0 ? grad + base + off : 0);
      if (perElement != 0) v128.store(perElement + (<usize>e << 2), loss);
      acc = addWide(acc, loss);
    }
    if (i < hw) {
      const left = hw - i;
      const xs = scratch, qs = xs + (<usize>c << 4), gs = qs + (<usize>c << 4);
      for (let k = 0; k < c; k++) {
        for (let l = 0; l < 4; l++) {
          const src = base + <usize>k * planeBytes + (<usize>(i + l) << 2);
          store<f32>(xs + (<usize>k << 4) + (<usize>l << 2), l < left ? load<f32>(logits + src) : 0);
          store<f32>(qs + (<usize>k << 4) + (<usize>l << 2), l < left ? load<f32>(probs + src) : 0);
        }
      }
      // Padding lanes have q = 0 but smoothing still gives them ε/C: mask their loss out.
      const lanes = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(left));
      const loss = v128.and(probsGroup(xs, qs, 16, weights, c, smoothing, gradScale, grad != 0 ? gs : 0), lanes);
      for (let l = 0; l < left; l++) {
        const e = img * hw + i + l;
        if (perElement != 0) store<f32>(perElement + (<usize>e << 2), laneOf(loss, l));
        if (grad != 0) {
          for (let k = 0; k < c; k++) store<f32>(grad + base + <usize>k * planeBytes + (<usize>(i + l) << 2), load<f32>(gs + (<usize>k << 4) + (<usize>l << 2)));
        }
      }
      acc = addWide(acc, loss);
    }
  }
  return hsumWide(acc);
}

function probsGroup(x: usize, q: usize, stride: usize, weights: usize, c: i32, smoothing: f32, gradScale: f32, g: usize): v128 {
  let m = v128.load(x);
  for (let k = 1; k < c; k++) m = f32x4.pmax(m, v128.load(x + <usize>k * stride));
  const keep = f32x4.splat(1 - smoothing), share = f32x4.splat(smoothing / <f32>c);
  // loss = Wq·ln s − Σ_c w_c q'_c (x_c − m), with Wq = Σ_c w_c q'_c.
  let s = f32x4.splat(0), wq = f32x4.splat(0), wqd = f32x4.splat(0);
  for (let k = 0; k < c; k++) {
    const o = <usize>k * stride;
    const d = f32x4.sub(v128.load(x + o), m);
    const e = expv(d);
    s = f32x4.add(s, e);
    if (g != 0) v128.store(g + o, e);
    const wqk = f32x4.mul(f32x4.splat(load<f32>(weights + (<usize>k << 2))), f32x4.add(f32x4.mul(keep, v128.load(q + o)), share));
    wq = f32x4.add(wq, wqk);
    wqd = f32x4.add(wqd, f32x4.mul(wqk, d));
  }
  const loss = f32x4.sub(f32x4.mul(wq, logv(s)), wqd);
  if (g != 0) {
    // ∂per/∂x_c = Wq·p_c − w_c q'_c.
    const scale = f32x4.splat(gradScale);
    const alpha = f32x4.mul(f32x4.div(wq, s), scale);
    for (let k = 0; k < c; k++) {
      const o = <usize>k * stride;
      const wqk = f32x4.mul(f32x4.splat(load<f32>(weights + (<usize>k << 2))), f32x4.add(f32x4.mul(keep, v128.load(q + o)), share));
      v128.store(g + o, f32x4.sub(f32x4.mul(v128.load(g + o), alpha), f32x4.mul(wqk, scale)));
    }
  }
  return loss;
}
