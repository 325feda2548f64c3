// Moving between the NCHW feature layout of one image (C × H × W, float32) and the row matrices
// of the contrastive losses (rows × Cp, see similarity.ts): p×p average pooling into patch rows,
// its backward pass, and the gather / scatter of selected pixels.

import { hsum } from './simd_math';

/**
 * v[rowOf[n]][c] = mean of the p×p patch n of channel c: pooling straight into the rows a caller
 * wants (rowOf: int32 per patch). `v` has Cp columns; its padding must be zeroed by the caller.
 */
export function avgPoolRows(f: usize, c: i32, h: i32, w: i32, p: i32, cp: i32, rowOf: usize, v: usize): void {
  const kh = h / p,
    kw = w / p;
  const rowBytes = (<usize>cp) << 2,
    wBytes = (<usize>w) << 2;
  const inv: f32 = <f32>(1.0 / <f64>(p * p));
  const planeBytes = <usize>h * wBytes;
  for (let ch = 0; ch < c; ch++) {
    const plane = f + <usize>ch * planeBytes;
    const col = v + ((<usize>ch) << 2);
    // p = 4: two channels at once where there are two: each row of v is fetched once for both
    // (docs/design.md §9).
    const pair = p == 4 && ch + 1 < c;
    for (let r = 0; r < kh; r++) {
      const top = plane + <usize>(r * p) * wBytes;
      const rows = rowOf + ((<usize>(r * kw)) << 2);
      if (p == 4) {
        for (let q = 0; q < kw; q++) {
          const o = top + ((<usize>q) << 4);
          const at = col + <usize>load<i32>(rows + ((<usize>q) << 2)) * rowBytes;
          store<f32>(at, poolPatch4(o, wBytes, inv));
          if (pair) store<f32>(at, poolPatch4(o + planeBytes, wBytes, inv), 4);
        }
        continue;
      }
      for (let q = 0; q < kw; q++) {
        let s: f32 = 0;
        for (let y = 0; y < p; y++) {
          const rowp = top + <usize>y * wBytes + ((<usize>(q * p)) << 2);
          for (let x = 0; x < p; x++) s += load<f32>(rowp + ((<usize>x) << 2)) * inv;
        }
        store<f32>(col + <usize>load<i32>(rows + ((<usize>q) << 2)) * rowBytes, s);
      }
    }
    if (pair) ch++;
  }
}

/** The mean of the 4×4 patch at `o` (rows `wBytes` apart): one vector per patch row and a horizontal sum. */
// @ts-ignore: decorator
@inline
function poolPatch4(o: usize, wBytes: usize, inv: f32): f32 {
  // Scaled before the sum, so that finite features near the float32 limit stay finite.
  const k = f32x4.splat(inv);
  return hsum(
    f32x4.add(
      f32x4.add(f32x4.mul(v128.load(o), k), f32x4.mul(v128.load(o + wBytes), k)),
      f32x4.add(f32x4.mul(v128.load(o + 2 * wBytes), k), f32x4.mul(v128.load(o + 3 * wBytes), k)),
    ),
  );
}

// Pixels are moved a block of CHANNEL_BLOCK channels at a time: the block's planes (8 × H·W floats)
// stay in cache while every pixel passes. One pixel's C channels lie a plane apart, so moving them
// together, pixel after pixel, sends C accesses to the same few cache sets.
const CHANNEL_BLOCK = 8;

/**
 * df[c][y][x] = dv[rowOf[patch(y,x)]][c] / p² for every pixel: the backward pass of avgPoolRows.
 * Channels go a block at a time (CHANNEL_BLOCK), patch after patch: each patch's values are
 * read from one piece of its row of dv (rows lie C_p floats apart) and written to the p pixel rows
 * of each channel's plane.
 */
export function avgPoolRowsBackward(dv: usize, c: i32, h: i32, w: i32, p: i32, cp: i32, rowOf: usize, df: usize): void {
  const kh = h / p,
    kw = w / p;
  const rowBytes = (<usize>cp) << 2,
    wBytes = (<usize>w) << 2,
    planeBytes = <usize>h * wBytes;
  const inv: f32 = <f32>(1.0 / <f64>(p * p));
  for (let c0 = 0; c0 < c; c0 += CHANNEL_BLOCK) {
    const count = min(CHANNEL_BLOCK, c - c0);
    const planes = df + <usize>c0 * planeBytes;
    for (let r = 0; r < kh; r++) {
      const top = planes + <usize>(r * p) * wBytes;
      const rows = rowOf + ((<usize>(r * kw)) << 2);
      for (let q = 0; q < kw; q++) {
        const src = dv + <usize>load<i32>(rows + ((<usize>q) << 2)) * rowBytes + ((<usize>c0) << 2);
        const at = top + ((<usize>(q * p)) << 2);
        for (let ch = 0; ch < count; ch++) {
          const g = load<f32>(src + ((<usize>ch) << 2)) * inv;
          const o = at + <usize>ch * planeBytes;
          if (p == 4) {
            const v = f32x4.splat(g);
            v128.store(o, v);
            v128.store(o + wBytes, v);
            v128.store(o + 2 * wBytes, v);
            v128.store(o + 3 * wBytes, v);
            continue;
          }
          for (let y = 0; y < p; y++) {
            const line = o + <usize>y * wBytes;
            for (let x = 0; x < p; x++) store<f32>(line + ((<usize>x) << 2), g);
          }
        }
      }
    }
  }
}

/** rows[i][c] = f[c][idx[i]] for the `n` pixel indices in `idx` (int32). */
export function gatherPixelRows(f: usize, c: i32, hw: i32, idx: usize, n: i32, cp: i32, rows: usize): void {
  const rowBytes = (<usize>cp) << 2,
    plane = (<usize>hw) << 2;
  for (let c0 = 0; c0 < c; c0 += CHANNEL_BLOCK) {
    const count = min(CHANNEL_BLOCK, c - c0);
    const planes = f + <usize>c0 * plane,
      column = rows + ((<usize>c0) << 2);
    for (let i = 0; i < n; i++) {
      const src = planes + ((<usize>load<i32>(idx + ((<usize>i) << 2))) << 2);
      const dst = column + <usize>i * rowBytes;
      for (let ch = 0; ch < count; ch++) store<f32>(dst + ((<usize>ch) << 2), load<f32>(src + <usize>ch * plane));
    }
  }
}

/** df[c][idx[i]] = rows[i][c]: the inverse of gatherPixelRows (other pixels untouched). */
export function scatterPixelRows(rows: usize, n: i32, cp: i32, idx: usize, c: i32, hw: i32, df: usize): void {
  const rowBytes = (<usize>cp) << 2,
    plane = (<usize>hw) << 2;
  for (let c0 = 0; c0 < c; c0 += CHANNEL_BLOCK) {
    const count = min(CHANNEL_BLOCK, c - c0);
    const planes = df + <usize>c0 * plane,
      column = rows + ((<usize>c0) << 2);
    for (let i = 0; i < n; i++) {
      const dst = planes + ((<usize>load<i32>(idx + ((<usize>i) << 2))) << 2);
      const src = column + <usize>i * rowBytes;
      for (let ch = 0; ch < count; ch++) store<f32>(dst + <usize>ch * plane, load<f32>(src + ((<usize>ch) << 2)));
    }
  }
}
