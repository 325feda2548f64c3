// Cross-entropy's index targets, read in the caller's own type (Int32Array, Uint8Array or
// Uint16Array: `kind` 0, 1, 2; the kernels convert on the fly, so a uint8 mask stays 1 byte a
// pixel in wasm memory): the loaders the kernels share, and the one pass that checks every target
// and counts the classes for the 'mean' normalizer.

import { TARGET_U16, TARGET_U8 } from '../src/codes';
import { alloc } from './memory';

// @ts-ignore: decorator
@inline
export function loadTarget(src: usize, kind: i32, i: i32): i32 {
  if (kind == TARGET_U8) return <i32>load<u8>(src + <usize>i);
  if (kind == TARGET_U16) return <i32>load<u16>(src + ((<usize>i) << 1));
  return load<i32>(src + ((<usize>i) << 2));
}

/**
 * Checks index targets: returns the first index whose target is neither in [0, C) nor
 * `ignoreIndex`, or -1.
 * Writes Σ w_{y} over the valid targets (the "mean" normalizer, float64) to `normalizerOut`,
 * from per-class counts (exact integers, so the sum is as exact as float64 allows).
 * `counts` is scratch for C + 1 int32 values.
 */
export function crossEntropyPrepareTargets(
  src: usize,
  kind: i32,
  n: i32,
  c: i32,
  ignoreIndex: i32,
  weights: usize,
  normalizerOut: usize,
  counts: usize,
): i32 {
  const two = c == 2;
  const clean =
    kind == TARGET_U8
      ? scanTargets<u8>(src, n, c, ignoreIndex, counts)
      : kind == TARGET_U16
        ? scanTargets<u16>(src, n, c, ignoreIndex, counts)
        : scanTargets<i32>(src, n, c, ignoreIndex, counts);
  if (!clean) {
    for (let j = 0; j < n; j++) {
      const y = loadTarget(src, kind, j);
      if (y != ignoreIndex && <u32>y >= <u32>c) return j;
    }
  }
  const i = n & ~3;
  if (two) {
    let n0 = load<i32>(counts),
      n1 = load<i32>(counts, 4);
    for (let j = i; j < n; j++) {
      const y = loadTarget(src, kind, j);
      if (y == 0) n0++;
      else if (y == 1) n1++;
    }
    // A class index equal to ignoreIndex is ignored, not counted.
    store<i32>(counts, ignoreIndex == 0 ? 0 : n0);
    store<i32>(counts, ignoreIndex == 1 ? 0 : n1, 4);
  } else if (c <= 6) {
    // Per-class counts: a vector pass per class up to C = 6, else four interleaved histograms
    // (consecutive pixels mostly share a class, and one histogram would serialize on its
    // counter), which take about the time of 6 passes whatever C is.
    for (let k = 0; k < c; k++) {
      const kv = i32x4.splat(k);
      let cnt = i32x4.splat(0);
      let j = 0;
      for (; j + 4 <= n; j += 4) cnt = i32x4.sub(cnt, i32x4.eq(loadTargets4(src, kind, j), kv));
      let total = laneSum(cnt);
      for (; j < n; j++) if (loadTarget(src, kind, j) == k) total++;
      store<i32>(counts + ((<usize>k) << 2), k == ignoreIndex ? 0 : total);
    }
  } else {
    const stride = (<usize>c + 1) << 2;
    const h = alloc(stride * 4);
    memory.fill(h, 0, stride * 4);
    for (let j = 0; j < n; j++) {
      const y = loadTarget(src, kind, j);
      if (y == ignoreIndex) continue;
      const slot = h + <usize>(j & 3) * stride + ((<usize>y) << 2);
      store<i32>(slot, load<i32>(slot) + 1);
    }
    for (let k = 0; k < c; k++) {
      let total = 0;
      for (let q = 0; q < 4; q++) total += load<i32>(h + <usize>q * stride + ((<usize>k) << 2));
      store<i32>(counts + ((<usize>k) << 2), total);
    }
  }
  let norm: f64 = 0;
  for (let k = 0; k < c; k++)
    norm += <f64>load<i32>(counts + ((<usize>k) << 2)) * load<f64>(weights + ((<usize>k) << 3));
  store<f64>(normalizerOut, norm);
  return -1;
}

// @ts-ignore: decorator
@inline
function laneSum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * One pass over the targets (type T, resolved at compile time): whether every one lies in [0, C)
 * or equals ignoreIndex (bad lanes are or-ed together: no branch per vector), and for two classes
 * the vector part's count of each class, at counts[0] and counts[1].
 */
function scanTargets<T>(src: usize, n: i32, c: i32, ignoreIndex: i32, counts: usize): bool {
  const ignore = i32x4.splat(ignoreIndex),
    classes = i32x4.splat(c);
  let bad = i32x4.splat(0),
    zeros = i32x4.splat(0),
    ones = i32x4.splat(0);
  const two = c == 2;
  let i = 0;
  // uint8 masks, the common target, sixteen a vector first; int32 targets too, narrowed to bytes
  // with saturation when no saturated byte (−128 or 127) can be a class or ignoreIndex.
  const narrow = sizeof<T>() == 4 && c <= 127 && ignoreIndex >= -127 && ignoreIndex <= 126;
  if (sizeof<T>() == 1 || narrow) {
    i = scanTargetBytes(src, narrow, n, c, ignoreIndex, counts);
    if (i < 0) return false;
    zeros = i32x4.replace_lane(zeros, 0, load<i32>(counts));
    ones = i32x4.replace_lane(ones, 0, load<i32>(counts, 4));
  }
  for (; i + 4 <= n; i += 4) {
    const y = loadTargetsOf<T>(src, i);
    // Unsigned y < C also rejects negative targets.
    bad = v128.or(bad, v128.andnot(v128.not(i32x4.lt_u(y, classes)), i32x4.eq(y, ignore)));
    if (two) {
      zeros = i32x4.sub(zeros, i32x4.eq(y, i32x4.splat(0)));
      ones = i32x4.sub(ones, i32x4.eq(y, i32x4.splat(1)));
    }
  }
  store<i32>(counts, laneSum(zeros));
  store<i32>(counts, laneSum(ones), 4);
  for (; i < n; i++) {
    const y = <i32>load<T>(src + ((<usize>i) << alignof<T>()));
    if (y != ignoreIndex && <u32>y >= <u32>c) return false;
  }
  return !v128.any_true(bad);
}

/**
 * scanTargets sixteen targets a vector, uint8 or (`wide`) int32 narrowed to bytes: returns -1 when a
 * target is neither below C nor ignoreIndex, else how many targets it checked (a multiple of 16),
 * with their class-0 and class-1 counts at counts[0] and counts[1] when C = 2.
 */
function scanTargetBytes(src: usize, wide: bool, n: i32, c: i32, ignoreIndex: i32, counts: usize): i32 {
  // Every byte is a valid class when C > 255. A uint8 byte never equals an ignoreIndex outside
  // [0, 255]; narrowed int32 bytes are signed, and the caller has ignoreIndex in [−127, 126].
  const checked = c <= 255;
  const limit = i8x16.splat(<i8>min(c, 255)),
    ignore = i8x16.splat(<i8>ignoreIndex);
  const ignoreOn = wide || (ignoreIndex >= 0 && ignoreIndex <= 255) ? i8x16.splat(-1) : i8x16.splat(0);
  const two = c == 2;
  let bad = i8x16.splat(0),
    zeros = i32x4.splat(0),
    ones = i32x4.splat(0);
  let i = 0;
  while (i + 16 <= n) {
    // Byte counters take at most 255 increments: widen them every 128 vectors.
    const end = min(n & ~15, i + 128 * 16);
    let zeros8 = i8x16.splat(0),
      ones8 = i8x16.splat(0);
    for (; i < end; i += 16) {
      const y = loadBytes16(src, wide, i);
      if (checked)
        bad = v128.or(bad, v128.andnot(v128.not(i8x16.lt_u(y, limit)), v128.and(i8x16.eq(y, ignore), ignoreOn)));
      if (two) {
        zeros8 = i8x16.sub(zeros8, i8x16.eq(y, i8x16.splat(0)));
        ones8 = i8x16.sub(ones8, i8x16.eq(y, i8x16.splat(1)));
      }
    }
    zeros = i32x4.add(zeros, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(zeros8)));
    ones = i32x4.add(ones, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(ones8)));
  }
  if (v128.any_true(bad)) return -1;
  store<i32>(counts, laneSum(zeros));
  store<i32>(counts, laneSum(ones), 4);
  return i;
}

/** Sixteen targets from i on as bytes: uint8 as they are, int32 (`wide`) narrowed with saturation. */
// @ts-ignore: decorator
@inline
function loadBytes16(src: usize, wide: bool, i: i32): v128 {
  if (!wide) return v128.load(src + <usize>i);
  const p = src + ((<usize>i) << 2);
  return i8x16.narrow_i16x8_s(
    i16x8.narrow_i32x4_s(v128.load(p), v128.load(p, 16)),
    i16x8.narrow_i32x4_s(v128.load(p, 32), v128.load(p, 48)),
  );
}

// @ts-ignore: decorator
@inline
export function loadTargets4(src: usize, kind: i32, i: i32): v128 {
  if (kind == TARGET_U8) return loadTargetsOf<u8>(src, i);
  if (kind == TARGET_U16) return loadTargetsOf<u16>(src, i);
  return loadTargetsOf<i32>(src, i);
}

/** Four targets from i on, widened to int32 lanes; T (u8, u16, i32) is resolved at compile time. */
// @ts-ignore: decorator
@inline
export function loadTargetsOf<T>(src: usize, i: i32): v128 {
  if (sizeof<T>() == 1) return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(src + <usize>i)));
  if (sizeof<T>() == 2) return i32x4.extend_low_i16x8_u(v128.load64_zero(src + ((<usize>i) << 1)));
  return v128.load(src + ((<usize>i) << 2));
}
