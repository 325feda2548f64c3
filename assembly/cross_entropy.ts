// Pixel cross-entropy on (B, C, H, W) logits, value and gradient in one pass over the logits:
// exactly torch.nn.functional.cross_entropy (docs/spec.md §3). Four neighbouring pixels share a
// vector (lanes = pixels, the class axis strided by H·W), so any C vectorizes; the general code
// takes two vectors (8 pixels) per pass over the classes, and two classes (the forged / pristine
// case) have their own loop with one exp and one log1p per pixel. The last pixels of an image
// (fewer than 8; fewer than 4 for probability targets) go through a padded scratch group with the
// general code.

import { TARGET_U16, TARGET_U8 } from '../src/codes';
import { loadTarget, loadTargets4, loadTargetsOf } from './ce_targets';
import { addWide, expNonPositive, hsum, hsumWide, logv, madd, select, sigmoidFrom, softplusFrom } from './simd_math';

// `scratch` (32 + 96·C bytes) holds the tail group: targets, then C × 8 lanes of logits and of
// the gradient (index targets), or C × 4 lanes of logits, probabilities and gradient.

// The logits check rides along: every group adds its differences x − (reference logit) into
// `check` (a sum stays non-finite once a term is Infinity or NaN), and the kernel stores the sum
// at `status`. A non-finite status (also a sum that overflowed, which is harmless) makes the
// wrapper scan for the culprit with findNonFinite: no separate pass over the logits when all
// is well.
const CHECK = memory.data(16, 16);

/**
 * Index targets. For every pixel e with target y (of type `kind`, as in crossEntropyPrepareTargets;
 * `ignoreIndex` skips it):
 *   per_e = (1−ε)·w_y·(−l_y) + (ε/C)·Σ_c w_c·(−l_c),   l = log_softmax over classes,
 * returns Σ_e per_e (float64). `weights` are C float32 values. When `perElement` ≠ 0 it receives
 * per_e (B·H·W floats); when `grad` ≠ 0 it receives gradScale · ∂per_e/∂logits. `status`
 * receives the logits check (a float32, finite when every logit is).
 */
export function crossEntropyIndex(
  logits: usize,
  target: usize,
  kind: i32,
  weights: usize,
  b: i32,
  c: i32,
  hw: i32,
  ignoreIndex: i32,
  smoothing: f32,
  gradScale: f32,
  perElement: usize,
  grad: usize,
  scratch: usize,
  status: usize,
): f64 {
  v128.store(CHECK, f32x4.splat(0));
  let sum: f64 = 0;
  if (c == 2) {
    const k = binaryConstants(weights, smoothing, gradScale);
    // One copy of the pixel loop per target type: no type test per group.
    const done = hw & ~3;
    for (let img = 0; img < b; img++) {
      sum +=
        kind == TARGET_U8
          ? binaryImage<u8>(logits, target, img, hw, k, ignoreIndex, perElement, grad)
          : kind == TARGET_U16
            ? binaryImage<u16>(logits, target, img, hw, k, ignoreIndex, perElement, grad)
            : binaryImage<i32>(logits, target, img, hw, k, ignoreIndex, perElement, grad);
      if (done < hw)
        sum += tailGroup(
          logits,
          target,
          kind,
          weights,
          c,
          hw,
          img,
          done,
          ignoreIndex,
          smoothing,
          gradScale,
          perElement,
          grad,
          scratch,
        );
    }
  } else {
    const planeBytes = (<usize>hw) << 2;
    for (let img = 0; img < b; img++) {
      const base = <usize>img * <usize>c * planeBytes;
      let acc = f64x2.splat(0);
      let i = 0;
      for (; i + 8 <= hw; i += 8) {
        const off = (<usize>i) << 2;
        const e = img * hw + i;
        indexGroup(
          logits + base + off,
          planeBytes,
          loadTargets4(target, kind, e),
          loadTargets4(target, kind, e + 4),
          weights,
          c,
          ignoreIndex,
          smoothing,
          gradScale,
          grad != 0 ? grad + base + off : 0,
        );
        const la = v128.load(LOSSES),
          lb = v128.load(LOSSES, 16);
        if (perElement != 0) {
          v128.store(perElement + ((<usize>e) << 2), la);
          v128.store(perElement + ((<usize>e) << 2), lb, 16);
        }
        acc = addWide(addWide(acc, la), lb);
      }
      sum += hsumWide(acc);
      if (i < hw)
        sum += tailGroup(
          logits,
          target,
          kind,
          weights,
          c,
          hw,
          img,
          i,
          ignoreIndex,
          smoothing,
          gradScale,
          perElement,
          grad,
          scratch,
        );
    }
  }
  store<f32>(status, hsum(v128.load(CHECK)));
  return sum;
}

/**
 * The two-class pixel loop over image `img`, 16 then 4 pixels at a time (all but the last
 * hw mod 4): returns their loss sum.
 */
function binaryImage<T>(
  logits: usize,
  target: usize,
  img: i32,
  hw: i32,
  k: usize,
  ignoreIndex: i32,
  perElement: usize,
  grad: usize,
): f64 {
  const stride = (<usize>hw) << 2;
  const base = <usize>img * 2 * stride;
  const first = img * hw;
  let acc = f64x2.splat(0),
    check = v128.load(CHECK);
  let i = 0;
  // Four independent groups per iteration: exp, log1p and the division are long dependency
  // chains, and several side by side keep the vector units busy.
  for (; i + 16 <= hw; i += 16) {
    const x = logits + base + ((<usize>i) << 2),
      g = grad != 0 ? grad + base + ((<usize>i) << 2) : 0;
    const da = f32x4.sub(v128.load(x + stride), v128.load(x));
    const la = binaryGroup(da, loadTargetsOf<T>(target, first + i), k, ignoreIndex, g, stride, 0);
    const db = f32x4.sub(v128.load(x + stride, 16), v128.load(x, 16));
    const lb = binaryGroup(db, loadTargetsOf<T>(target, first + i + 4), k, ignoreIndex, g, stride, 16);
    check = f32x4.add(check, f32x4.add(da, db));
    const dc = f32x4.sub(v128.load(x + stride, 32), v128.load(x, 32));
    const lc = binaryGroup(dc, loadTargetsOf<T>(target, first + i + 8), k, ignoreIndex, g, stride, 32);
    const dd = f32x4.sub(v128.load(x + stride, 48), v128.load(x, 48));
    const ld = binaryGroup(dd, loadTargetsOf<T>(target, first + i + 12), k, ignoreIndex, g, stride, 48);
    check = f32x4.add(check, f32x4.add(dc, dd));
    if (perElement != 0) {
      const pe = perElement + ((<usize>(first + i)) << 2);
      v128.store(pe, la);
      v128.store(pe, lb, 16);
      v128.store(pe, lc, 32);
      v128.store(pe, ld, 48);
    }
    // Each group widened on its own: a float32 sum of per-pixel losses near 3e38 could overflow.
    acc = addWide(addWide(addWide(addWide(acc, la), lb), lc), ld);
  }
  for (; i + 4 <= hw; i += 4) {
    const x = logits + base + ((<usize>i) << 2),
      g = grad != 0 ? grad + base + ((<usize>i) << 2) : 0;
    const d = f32x4.sub(v128.load(x + stride), v128.load(x));
    check = f32x4.add(check, d);
    const loss = binaryGroup(d, loadTargetsOf<T>(target, first + i), k, ignoreIndex, g, stride, 0);
    if (perElement != 0) v128.store(perElement + ((<usize>(first + i)) << 2), loss);
    acc = addWide(acc, loss);
  }
  v128.store(CHECK, check);
  return hsumWide(acc);
}

/**
 * The last pixels of image `img` (from pixel i on, fewer than 8), through an 8-pixel scratch
 * group with indexGroup: padding lanes have target ignoreIndex and logits 0. Returns their loss
 * sum.
 */
function tailGroup(
  logits: usize,
  target: usize,
  kind: i32,
  weights: usize,
  c: i32,
  hw: i32,
  img: i32,
  i: i32,
  ignoreIndex: i32,
  smoothing: f32,
  gradScale: f32,
  perElement: usize,
  grad: usize,
  scratch: usize,
): f64 {
  const planeBytes = (<usize>hw) << 2;
  const base = <usize>img * <usize>c * planeBytes;
  const left = hw - i;
  const y = scratch;
  for (let l = 0; l < 8; l++)
    store<i32>(y + ((<usize>l) << 2), l < left ? loadTarget(target, kind, img * hw + i + l) : ignoreIndex);
  const xs = scratch + 32,
    gs = xs + ((<usize>c) << 5);
  for (let k = 0; k < c; k++) {
    for (let l = 0; l < 8; l++) {
      store<f32>(
        xs + ((<usize>k) << 5) + ((<usize>l) << 2),
        l < left ? load<f32>(logits + base + <usize>k * planeBytes + ((<usize>(i + l)) << 2)) : 0,
      );
    }
  }
  indexGroup(xs, 32, v128.load(y), v128.load(y, 16), weights, c, ignoreIndex, smoothing, gradScale, grad != 0 ? gs : 0);
  let sum: f64 = 0;
  for (let l = 0; l < left; l++) {
    const e = img * hw + i + l;
    const loss = load<f32>(LOSSES + ((<usize>l) << 2));
    sum += <f64>loss;
    if (perElement != 0) store<f32>(perElement + ((<usize>e) << 2), loss);
    if (grad != 0) {
      for (let k = 0; k < c; k++)
        store<f32>(
          grad + base + <usize>k * planeBytes + ((<usize>(i + l)) << 2),
          load<f32>(gs + ((<usize>k) << 5) + ((<usize>l) << 2)),
        );
    }
  }
  return sum;
}

// @ts-ignore: decorator
@inline
function laneOf(v: v128, l: i32): f32 {
  if (l == 0) return f32x4.extract_lane(v, 0);
  if (l == 1) return f32x4.extract_lane(v, 1);
  if (l == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

/**
 * Two classes (the forged / pristine case), one group of 4 pixels, from d = x1 − x0. With o the
 * other class and z = x_o − x_y (d, or −d where y = 1):
 *   per = A_y·softplus(z) − B_y·z,   ∂per/∂x_o = A_y·σ(z) − B_y = −∂per/∂x_y,
 * where A_y = (1 − ε/2)·w_y + (ε/2)·w_o and B_y = (ε/2)·w_o (docs/spec.md §3, C = 2). softplus(z) =
 * max(z, 0) + ln(1 + e) and σ(z) both come from one e = exp(−|z|) in (0, 1]: one exp, one short
 * log1p polynomial, one division.
 */
// @ts-ignore: decorator
@inline
function binaryGroup(d: v128, y: v128, k: usize, ignoreIndex: i32, g: usize, stride: usize, offset: usize): v128 {
  const sign = i32x4.splat(0x80000000),
    zero = f32x4.splat(0);
  const ignored = i32x4.eq(y, i32x4.splat(ignoreIndex));
  // Ignored pixels count as class 0 here (their loss and gradient are masked to +0 below).
  const isOne = v128.andnot(i32x4.eq(y, i32x4.splat(1)), ignored);
  const ySign = v128.and(isOne, sign);
  const z = v128.xor(d, ySign);
  const e = expNonPositive(v128.or(z, sign));
  const softplus = softplusFrom(z, e);
  const a = select(v128.load(k, 16), v128.load(k), isOne);
  const negB = select(v128.load(k, 48), v128.load(k, 32), isOne);
  const loss = v128.andnot(madd(negB, z, f32x4.mul(a, softplus)), ignored);
  if (g != 0) {
    const gOther = v128.andnot(f32x4.mul(madd(a, sigmoidFrom(z, e), negB), v128.load(k, 64)), ignored);
    // ∂/∂x1 is gOther where y = 0 and −gOther where y = 1; ∂/∂x0 is its negation (0 − g: never −0).
    const g1 = v128.xor(gOther, ySign);
    v128.store(g + stride + offset, g1);
    v128.store(g + offset, f32x4.sub(zero, g1));
  }
  return loss;
}

/**
 * The per-class constants of binaryGroup, splatted, in static memory (returned): A0, A1, −B0,
 * −B1 and gradScale. Computed in float64 from the float32 weights, rounded once.
 */
function binaryConstants(weights: usize, smoothing: f32, gradScale: f32): usize {
  const k = memory.data(80, 16);
  const w0 = <f64>load<f32>(weights),
    w1 = <f64>load<f32>(weights, 4);
  const half = <f64>smoothing * 0.5;
  v128.store(k, f32x4.splat(<f32>((1 - half) * w0 + half * w1)));
  v128.store(k, f32x4.splat(<f32>((1 - half) * w1 + half * w0)), 16);
  v128.store(k, f32x4.splat(<f32>(-half * w1)), 32);
  v128.store(k, f32x4.splat(<f32>(-half * w0)), 48);
  v128.store(k, f32x4.splat(gradScale), 64);
  return k;
}

// indexGroup's two loss vectors (8 pixels), read by its callers.
const LOSSES = memory.data(32, 16);

/**
 * One group of 8 pixels, two vectors per class (at x and x + 16; targets ya, yb): writes their
 * losses to LOSSES and, when g ≠ 0, the scaled gradient. Two vectors per pass over the classes
 * share the loop, the weight loads and exp's constants, and give the core two independent chains.
 */
function indexGroup(
  x: usize,
  stride: usize,
  ya: v128,
  yb: v128,
  weights: usize,
  c: i32,
  ignoreIndex: i32,
  smoothing: f32,
  gradScale: f32,
  g: usize,
): void {
  if (smoothing != 0) indexGroupSmoothed(x, stride, ya, yb, weights, c, ignoreIndex, smoothing, gradScale, g);
  else indexGroupPlain(x, stride, ya, yb, weights, c, ignoreIndex, gradScale, g);
}

// Without smoothing the class loops drop Σ w_c·(m − x_c) and Σ w_c: one copy of the body each.
function indexGroupSmoothed(
  x: usize,
  stride: usize,
  ya: v128,
  yb: v128,
  weights: usize,
  c: i32,
  ignoreIndex: i32,
  smoothing: f32,
  gradScale: f32,
  g: usize,
): void {
  indexGroupBody(x, stride, ya, yb, weights, c, ignoreIndex, smoothing, gradScale, g);
}

function indexGroupPlain(
  x: usize,
  stride: usize,
  ya: v128,
  yb: v128,
  weights: usize,
  c: i32,
  ignoreIndex: i32,
  gradScale: f32,
  g: usize,
): void {
  indexGroupBody(x, stride, ya, yb, weights, c, ignoreIndex, 0, gradScale, g);
}

// @ts-ignore: decorator
@inline
function indexGroupBody(
  x: usize,
  stride: usize,
  ya: v128,
  yb: v128,
  weights: usize,
  c: i32,
  ignoreIndex: i32,
  smoothing: f32,
  gradScale: f32,
  g: usize,
): void {
  const ignore = i32x4.splat(ignoreIndex);
  const validA = v128.not(i32x4.eq(ya, ignore)),
    validB = v128.not(i32x4.eq(yb, ignore));
  // Pass 1: the maximum over classes, the target logit and its weight.
  let ma = v128.load(x),
    mb = v128.load(x, 16);
  let xya = f32x4.splat(0),
    xyb = xya,
    wya = xya,
    wyb = xya;
  for (let k = 0; k < c; k++) {
    const o = x + <usize>k * stride;
    const xa = v128.load(o),
      xb = v128.load(o, 16);
    ma = f32x4.pmax(ma, xa);
    mb = f32x4.pmax(mb, xb);
    const kv = i32x4.splat(k),
      wk = v128.load32_splat(weights + ((<usize>k) << 2));
    const hitA = i32x4.eq(ya, kv),
      hitB = i32x4.eq(yb, kv);
    xya = select(xa, xya, hitA);
    xyb = select(xb, xyb, hitB);
    wya = select(wk, wya, hitA);
    wyb = select(wk, wyb, hitB);
  }
  // Pass 2: Σ exp(x − m) (x − m ≤ 0) and, for smoothing, Σ w_c·(m − x_c) and Σ w_c.
  let sa = f32x4.splat(0),
    sb = sa,
    swda = sa,
    swdb = sa,
    check = v128.load(CHECK);
  let wsum: f32 = 0;
  for (let k = 0; k < c; k++) {
    const o = <usize>k * stride;
    const da = f32x4.sub(v128.load(x + o), ma),
      db = f32x4.sub(v128.load(x + o, 16), mb);
    check = f32x4.add(check, f32x4.add(da, db));
    const ea = expNonPositive(da),
      eb = expNonPositive(db);
    sa = f32x4.add(sa, ea);
    sb = f32x4.add(sb, eb);
    if (g != 0) {
      v128.store(g + o, ea);
      v128.store(g + o, eb, 16);
    }
    if (smoothing != 0) {
      const wk = load<f32>(weights + ((<usize>k) << 2));
      wsum += wk;
      swda = f32x4.sub(swda, f32x4.mul(f32x4.splat(wk), da));
      swdb = f32x4.sub(swdb, f32x4.mul(f32x4.splat(wk), db));
    }
  }
  v128.store(CHECK, check);
  const keep = f32x4.splat(1 - smoothing),
    share = f32x4.splat(smoothing / <f32>c),
    w = f32x4.splat(wsum);
  const logSa = logv(sa),
    logSb = logv(sb);
  v128.store(LOSSES, groupLoss(ma, xya, wya, logSa, swda, w, keep, share, smoothing, validA));
  v128.store(LOSSES, groupLoss(mb, xyb, wyb, logSb, swdb, w, keep, share, smoothing, validB), 16);
  if (g != 0) {
    // ∂per/∂x_c = α·p_c − β·[c = y] − γ_c
    // with α = (1−ε)w_y + (ε/C)W, β = (1−ε)w_y, γ_c = (ε/C)w_c.
    const scaleA = v128.and(f32x4.splat(gradScale), validA),
      scaleB = v128.and(f32x4.splat(gradScale), validB);
    const betaA = f32x4.mul(f32x4.mul(keep, wya), scaleA),
      betaB = f32x4.mul(f32x4.mul(keep, wyb), scaleB);
    const sw = f32x4.mul(share, w);
    const alphaA = f32x4.mul(f32x4.div(f32x4.add(f32x4.mul(keep, wya), sw), sa), scaleA);
    const alphaB = f32x4.mul(f32x4.div(f32x4.add(f32x4.mul(keep, wyb), sw), sb), scaleB);
    for (let k = 0; k < c; k++) {
      const p = g + <usize>k * stride,
        kv = i32x4.splat(k);
      let ga = f32x4.sub(f32x4.mul(v128.load(p), alphaA), v128.and(betaA, i32x4.eq(ya, kv)));
      let gb = f32x4.sub(f32x4.mul(v128.load(p, 16), alphaB), v128.and(betaB, i32x4.eq(yb, kv)));
      if (smoothing != 0) {
        const gamma = f32x4.mul(share, v128.load32_splat(weights + ((<usize>k) << 2)));
        ga = f32x4.sub(ga, f32x4.mul(gamma, scaleA));
        gb = f32x4.sub(gb, f32x4.mul(gamma, scaleB));
      }
      v128.store(p, ga);
      v128.store(p, gb, 16);
    }
  }
}

/**
 * One vector's loss: −l_y = (m − x_y) + ln s and Σ_c w_c(−l_c) = Σ_c w_c (m − x_c) + W ln s
 * (W, the sum of the weights, is only needed with smoothing), masked to the valid lanes.
 */
// @ts-ignore: decorator
@inline
function groupLoss(
  m: v128,
  xy: v128,
  wy: v128,
  logS: v128,
  swd: v128,
  w: v128,
  keep: v128,
  share: v128,
  smoothing: f32,
  valid: v128,
): v128 {
  const nll = f32x4.add(f32x4.sub(m, xy), logS);
  let loss = f32x4.mul(f32x4.mul(keep, wy), nll);
  if (smoothing != 0) loss = f32x4.add(loss, f32x4.mul(share, f32x4.add(swd, f32x4.mul(w, logS))));
  return v128.and(loss, valid);
}

/**
 * Probability targets q (B, C, H, W): per_e = −Σ_c w_c·q'_c·l_c with q' = (1−ε)q + ε/C.
 * Returns Σ_e per_e; `perElement`, `grad` and `status` as in crossEntropyIndex.
 */
export function crossEntropyProbs(
  logits: usize,
  probs: usize,
  weights: usize,
  b: i32,
  c: i32,
  hw: i32,
  smoothing: f32,
  gradScale: f32,
  perElement: usize,
  grad: usize,
  scratch: usize,
  status: usize,
): f64 {
  v128.store(CHECK, f32x4.splat(0));
  let acc = f64x2.splat(0);
  const planeBytes = (<usize>hw) << 2;
  const k = c == 2 ? binaryProbsConstants(weights, smoothing, gradScale) : 0;
  for (let img = 0; img < b; img++) {
    const base = <usize>img * <usize>c * planeBytes;
    let i = 0;
    if (c == 2) {
      for (; i + 4 <= hw; i += 4) {
        const off = (<usize>i) << 2;
        const e = img * hw + i;
        const loss = binaryProbsGroup(
          logits + base + off,
          probs + base + off,
          planeBytes,
          k,
          grad != 0 ? grad + base + off : 0,
        );
        if (perElement != 0) v128.store(perElement + ((<usize>e) << 2), loss);
        acc = addWide(acc, loss);
      }
    }
    for (; i + 4 <= hw; i += 4) {
      const off = (<usize>i) << 2;
      const e = img * hw + i;
      const loss = probsGroup(
        logits + base + off,
        probs + base + off,
        planeBytes,
        weights,
        c,
        smoothing,
        gradScale,
        grad != 0 ? grad + base + off : 0,
      );
      if (perElement != 0) v128.store(perElement + ((<usize>e) << 2), loss);
      acc = addWide(acc, loss);
    }
    if (i < hw) {
      const left = hw - i;
      const xs = scratch,
        qs = xs + ((<usize>c) << 4),
        gs = qs + ((<usize>c) << 4);
      for (let k = 0; k < c; k++) {
        for (let l = 0; l < 4; l++) {
          const src = base + <usize>k * planeBytes + ((<usize>(i + l)) << 2);
          store<f32>(xs + ((<usize>k) << 4) + ((<usize>l) << 2), l < left ? load<f32>(logits + src) : 0);
          store<f32>(qs + ((<usize>k) << 4) + ((<usize>l) << 2), l < left ? load<f32>(probs + src) : 0);
        }
      }
      // Padding lanes have q = 0 but smoothing still gives them ε/C: mask their loss out.
      const lanes = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(left));
      const loss = v128.and(probsGroup(xs, qs, 16, weights, c, smoothing, gradScale, grad != 0 ? gs : 0), lanes);
      for (let l = 0; l < left; l++) {
        const e = img * hw + i + l;
        if (perElement != 0) store<f32>(perElement + ((<usize>e) << 2), laneOf(loss, l));
        if (grad != 0) {
          for (let k = 0; k < c; k++)
            store<f32>(
              grad + base + <usize>k * planeBytes + ((<usize>(i + l)) << 2),
              load<f32>(gs + ((<usize>k) << 4) + ((<usize>l) << 2)),
            );
        }
      }
      acc = addWide(acc, loss);
    }
  }
  store<f32>(status, hsum(v128.load(CHECK)));
  return hsumWide(acc);
}

/**
 * Two classes, probability targets, one group of 4 pixels. With d = x1 − x0 and a_c = w_c·q'_c:
 *   per = (a0 + a1)·softplus(d) − a1·d,   ∂per/∂x1 = (a0 + a1)·σ(d) − a1 = −∂per/∂x0
 * (−l0 = softplus(d), −l1 = softplus(d) − d): one exp, one log1p and one division, as for index
 * targets.
 */
// @ts-ignore: decorator
@inline
function binaryProbsGroup(x: usize, q: usize, stride: usize, k: usize, g: usize): v128 {
  const d = f32x4.sub(v128.load(x + stride), v128.load(x));
  v128.store(CHECK, f32x4.add(v128.load(CHECK), d));
  // a_c = w_c·((1 − ε)·q_c + ε/2) = keepW_c·q_c + shareW_c.
  const a0 = madd(v128.load(k), v128.load(q), v128.load(k, 32));
  const a1 = madd(v128.load(k, 16), v128.load(q + stride), v128.load(k, 48));
  const wq = f32x4.add(a0, a1);
  const e = expNonPositive(v128.or(d, i32x4.splat(0x80000000)));
  const loss = f32x4.sub(f32x4.mul(wq, softplusFrom(d, e)), f32x4.mul(a1, d));
  if (g != 0) {
    const g1 = f32x4.mul(f32x4.sub(f32x4.mul(wq, sigmoidFrom(d, e)), a1), v128.load(k, 64));
    v128.store(g + stride, g1);
    v128.store(g, f32x4.sub(f32x4.splat(0), g1));
  }
  return loss;
}

/** binaryProbsGroup's constants, splatted, in static memory: w_c·(1 − ε), w_c·ε/2, gradScale. */
function binaryProbsConstants(weights: usize, smoothing: f32, gradScale: f32): usize {
  const k = memory.data(80, 16);
  const keep: f32 = 1 - smoothing,
    share: f32 = smoothing * 0.5;
  const w0 = load<f32>(weights),
    w1 = load<f32>(weights, 4);
  v128.store(k, f32x4.splat(w0 * keep));
  v128.store(k, f32x4.splat(w1 * keep), 16);
  v128.store(k, f32x4.splat(w0 * share), 32);
  v128.store(k, f32x4.splat(w1 * share), 48);
  v128.store(k, f32x4.splat(gradScale), 64);
  return k;
}

function probsGroup(
  x: usize,
  q: usize,
  stride: usize,
  weights: usize,
  c: i32,
  smoothing: f32,
  gradScale: f32,
  g: usize,
): v128 {
  let m = v128.load(x);
  for (let k = 1; k < c; k++) m = f32x4.pmax(m, v128.load(x + <usize>k * stride));
  const keep = f32x4.splat(1 - smoothing),
    share = f32x4.splat(smoothing / <f32>c);
  // loss = Wq·ln s − Σ_c w_c q'_c (x_c − m), with Wq = Σ_c w_c q'_c.
  let s = f32x4.splat(0),
    wq = f32x4.splat(0),
    wqd = f32x4.splat(0),
    check = v128.load(CHECK);
  for (let k = 0; k < c; k++) {
    const o = <usize>k * stride;
    const d = f32x4.sub(v128.load(x + o), m);
    check = f32x4.add(check, d);
    const e = expNonPositive(d);
    s = f32x4.add(s, e);
    if (g != 0) v128.store(g + o, e);
    const wqk = f32x4.mul(
      v128.load32_splat(weights + ((<usize>k) << 2)),
      f32x4.add(f32x4.mul(keep, v128.load(q + o)), share),
    );
    wq = f32x4.add(wq, wqk);
    wqd = f32x4.add(wqd, f32x4.mul(wqk, d));
  }
  v128.store(CHECK, check);
  const loss = f32x4.sub(f32x4.mul(wq, logv(s)), wqd);
  if (g != 0) {
    // ∂per/∂x_c = Wq·p_c − w_c q'_c.
    const scale = f32x4.splat(gradScale);
    const alpha = f32x4.mul(f32x4.div(wq, s), scale);
    for (let k = 0; k < c; k++) {
      const o = <usize>k * stride;
      const wqk = f32x4.mul(
        v128.load32_splat(weights + ((<usize>k) << 2)),
        f32x4.add(f32x4.mul(keep, v128.load(q + o)), share),
      );
      v128.store(g + o, f32x4.sub(f32x4.mul(v128.load(g + o), alpha), f32x4.mul(wqk, scale)));
    }
  }
  return loss;
}
