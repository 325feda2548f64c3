// Shared SIMD helpers: fused multiply-add (relaxed when the build has it), horizontal reductions,
// and a vector exp / log accurate to about 2 float32 ulps (Cephes coefficients). Maxima and minima use
// pmax / pmin (one instruction each on x64; f32x4.max needs ~8 for NaN semantics): inputs are finite.

/** c + a·b. The relaxed-SIMD build may fuse it (one rounding instead of two). */
// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** c − a·b. The relaxed-SIMD build may fuse it. */
// @ts-ignore: decorator
@inline
export function nmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

/**
 * a where `mask` (all ones per lane: a comparison's result) is set, else b. The relaxed build's
 * laneselect is one blend instruction; bitselect is three.
 */
// @ts-ignore: decorator
@inline
export function select(a: v128, b: v128, mask: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_laneselect(a, b, mask);
  return v128.bitselect(a, b, mask);
}

// @ts-ignore: decorator
@inline
export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}

// @ts-ignore: decorator
@inline
export function hmax(v: v128): f32 {
  const s = f32x4.pmax(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.pmax(s, v128.shuffle<f32>(s, s, 1, 0, 3, 2)), 0);
}

/** Adds the four lanes of `v` to a float64 accumulator pair (lanes 0+2 and 1+3). */
// @ts-ignore: decorator
@inline
export function addWide(acc: v128, v: v128): v128 {
  const lo = f64x2.promote_low_f32x4(v);
  const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f64x2.add(acc, f64x2.add(lo, hi));
}

// @ts-ignore: decorator
@inline
export function hsumWide(acc: v128): f64 {
  return f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
}

/**
 * exp(x) per lane. Range reduction x = n·ln2 + r with a two-part ln2, a degree-6 polynomial on
 * |r| ≤ ln2/2, and 2^n built in the exponent bits. n is rounded by adding 1.5·2^23, whose sum
 * holds n in its low mantissa bits: cheaper than nearest + trunc_sat. Inputs below -87.33 give 0
 * (the float32 result would be subnormal); inputs above 88 are clamped to exp(88) ≈ 1.65e38, so the
 * result is always finite (callers subtract a maximum; weights of 0 times it stay 0).
 */
// @ts-ignore: decorator
@inline
export function expv(x: v128): v128 {
  const tiny = f32x4.lt(x, f32x4.splat(-87.33654));
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.33654)), f32x4.splat(88.0));
  const shifted = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const n = f32x4.sub(shifted, f32x4.splat(12582912.0));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.1219444e-4)));
  let p = f32x4.splat(1.98756915e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = f32x4.add(madd(p, f32x4.mul(r, r), r), f32x4.splat(1.0));
  // The low bits of `shifted` are n + 0x400000; (n + 127) << 23 is 2^n.
  const scale = i32x4.shl(i32x4.sub(shifted, i32x4.splat(0x4b400000 - 127)), 23);
  return v128.andnot(f32x4.mul(p, scale), tiny);
}

// expNonPositive's constants as float32 scalars, each read with one load32_splat where it is used:
// V8 does not always hoist a v128 constant out of a loop, and rebuilding one takes it three
// instructions. Clamp, log2(e), the rounding shift, ln2 in two parts, then q's coefficients.
const EXP_K = memory.data<f32>([
  -87.33654, 1.44269504088896341, 12582912.0, 0.693359375, -2.1219444e-4, 0.00831252709031105, 0.041890114545822144,
  0.16667114198207855, 0.499992311000824, 1.0,
]);
const EXP_BIAS = memory.data<i32>([0x4b400000 - 127]);

// @ts-ignore: decorator
@inline
function expK(i: i32): v128 {
  return v128.load32_splat(EXP_K + ((<usize>i) << 2));
}

/**
 * exp(x) per lane for x ≤ 0 (cross-entropy's exp(x − max) and exp(−|z|)): expv's range
 * reduction without its overflow clamp, and a degree-5 polynomial fitted for float32 (1.4 ulps on
 * |r| ≤ ln2/2) instead of degree 7: fewer instructions in the loops where they are the limit.
 * Inputs below -87.33 give exp(-87.33) ≈ 1.2e-38 instead of 0, which no caller can tell apart (it
 * is added to 1 or to a sum holding exp(0) = 1, or multiplies a probability).
 */
// @ts-ignore: decorator
@inline
export function expNonPositive(x: v128): v128 {
  const xc = f32x4.pmax(x, expK(0));
  const shifted = madd(xc, expK(1), expK(2));
  const n = f32x4.sub(shifted, expK(2));
  const r = nmadd(n, expK(4), nmadd(n, expK(3), xc));
  // e^r = 1 + r + r²·q(r).
  let q = expK(5);
  q = madd(q, r, expK(6));
  q = madd(q, r, expK(7));
  q = madd(q, r, expK(8));
  const p = f32x4.add(madd(q, f32x4.mul(r, r), r), expK(9));
  const scale = i32x4.shl(i32x4.sub(shifted, v128.load32_splat(EXP_BIAS)), 23);
  return f32x4.mul(p, scale);
}

/**
 * Four running log-sum-exp pairs (maximum at `maxPtr`, Σ e^(x − maximum) at `sumPtr`) merged with
 * (m, s): M = max(m0, m), sum = s0·e^(m0 − M) + s·e^(m − M). An empty pair (−3e38, 0) on either
 * side leaves the other as it is. The patch and query passes merge strips and parts with it.
 */
// @ts-ignore: decorator
@inline
export function mergeRunningLse(maxPtr: usize, sumPtr: usize, m: v128, s: v128): void {
  const m0 = v128.load(maxPtr),
    top = f32x4.pmax(m0, m);
  const sum = f32x4.add(
    f32x4.mul(v128.load(sumPtr), expNonPositive(f32x4.sub(m0, top))),
    f32x4.mul(s, expNonPositive(f32x4.sub(m, top))),
  );
  v128.store(sumPtr, sum);
  v128.store(maxPtr, top);
}

/**
 * ln(1 + x) per lane for x in [0, 1] (softplus of two-class cross-entropy, x = exp(−|z|)), as
 * 2·atanh(s) with s = x/(2 + x) in [0, 1/3]: 2s + s·w·q(w), w = s², q of degree 3 fitted for
 * float32 (within 1.4 ulps). No range reduction, and accurate near 0, where ln(1 + x) ≈ x and
 * logv(1 + x) would lose x's low bits.
 */
// @ts-ignore: decorator
@inline
export function log1pUnit(x: v128): v128 {
  const s = f32x4.div(x, f32x4.add(f32x4.splat(2.0), x));
  const w = f32x4.mul(s, s);
  let q = f32x4.splat(0.280119925737381);
  q = madd(q, w, f32x4.splat(0.28001803159713745));
  q = madd(q, w, f32x4.splat(0.4002152681350708));
  q = madd(q, w, f32x4.splat(0.666664183139801));
  return madd(f32x4.mul(s, w), q, f32x4.add(s, s));
}

/** softplus(z) = max(z, 0) + ln(1 + e), given e = exp(−|z|). */
// @ts-ignore: decorator
@inline
export function softplusFrom(z: v128, e: v128): v128 {
  return f32x4.add(f32x4.pmax(z, f32x4.splat(0)), log1pUnit(e));
}

/**
 * σ(z) given e = exp(−|z|): 1/(1 + e) for z ≥ 0, else e/(1 + e), so the small side keeps its
 * relative precision.
 */
// @ts-ignore: decorator
@inline
export function sigmoidFrom(z: v128, e: v128): v128 {
  const one = f32x4.splat(1);
  const inv = f32x4.div(one, f32x4.add(one, e));
  return select(inv, f32x4.mul(e, inv), f32x4.ge(z, f32x4.splat(0)));
}

/**
 * ln(x) per lane for positive normal x (callers pass sums of exponentials, ≥ their largest term).
 * x = m·2^e with m in [√½, √2), then ln(1+f) by a degree-9 polynomial, f = m − 1.
 */
// @ts-ignore: decorator
@inline
export function logv(x: v128): v128 {
  const bits = x;
  let e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(bits, 23), i32x4.splat(126)));
  let m = v128.or(v128.and(bits, i32x4.splat(0x007fffff)), i32x4.splat(0x3f000000)); // in [0.5, 1)
  const small = f32x4.lt(m, f32x4.splat(0.707106781186547524));
  e = f32x4.sub(e, v128.and(small, f32x4.splat(1.0)));
  m = f32x4.sub(f32x4.add(m, v128.and(small, m)), f32x4.splat(1.0));
  const z = f32x4.mul(m, m);
  let y = f32x4.splat(7.0376836292e-2);
  y = madd(y, m, f32x4.splat(-1.151461031e-1));
  y = madd(y, m, f32x4.splat(1.167699874e-1));
  y = madd(y, m, f32x4.splat(-1.2420140846e-1));
  y = madd(y, m, f32x4.splat(1.4249322787e-1));
  y = madd(y, m, f32x4.splat(-1.6668057665e-1));
  y = madd(y, m, f32x4.splat(2.0000714765e-1));
  y = madd(y, m, f32x4.splat(-2.4999993993e-1));
  y = madd(y, m, f32x4.splat(3.3333331174e-1));
  y = f32x4.mul(f32x4.mul(y, m), z);
  y = madd(e, f32x4.splat(-2.1219444e-4), y);
  y = madd(z, f32x4.splat(-0.5), y);
  return madd(e, f32x4.splat(0.693359375), f32x4.add(m, y));
}
