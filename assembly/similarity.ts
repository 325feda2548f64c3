// The shared tiled-similarity machinery of the contrastive losses (patch contrast, InfoNCE).
//
// Layouts (all float32, 16-byte aligned):
// - row matrices: `rows × Cp`, row-major, Cp = C rounded up to a multiple of 8, zero padded;
// - panels: a row matrix of `8·P` rows repacked as P panels of `Cp × 8` (panel p holds, for each
//   channel k, the k-th value of rows 8p..8p+7 side by side), so the micro-kernel reads B with two
//   contiguous loads per k;
// - groups: a row matrix of R rows repacked as Cp/8 groups of `R × 8` (group g holds channels
//   8g..8g+7 of every row, row after row), so the accumulations read their row operand with two
//   contiguous loads per row, not at the row stride (docs/design.md §2);
// - packed operand (packOperand): a row matrix's panels, then its groups, in one buffer;
// - strips: `rows × stride` blocks of similarities or gradient weights, row-major.
// The micro-kernels are 4 rows × 8 columns: 8 f32x4 accumulators, 4 broadcasts and 2 loads per k.

import { madd } from './simd_math';

/** Lanes j..j+3 (row or column indices) that lie in [lo, hi), as an all-ones mask per lane. */
// @ts-ignore: decorator
@inline
export function lanesIn(j: i32, lo: i32, hi: i32): v128 {
  const ids = i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3));
  return v128.and(i32x4.ge_s(ids, i32x4.splat(lo)), i32x4.lt_s(ids, i32x4.splat(hi)));
}

/** Rows and channels are padded to multiples of 8 (panels of 8 rows, two vectors of channels). */
// @ts-ignore: decorator
@inline
export function roundUp8(n: i32): i32 {
  return (n + 7) & ~7;
}

/**
 * The row stride, in floats, of a strip `width` columns wide (a multiple of 8): `width`, or
 * `width + 8` when its rows would lie a multiple of 128 bytes apart. Such rows share few L1 sets,
 * and the transposed accumulation, which reads a column block of every row of the strip again for
 * each group of channels, then misses L1 (docs/design.md §2).
 */
// @ts-ignore: decorator
@inline
export function stripStride(width: i32): i32 {
  return (width & 31) == 0 ? width + 8 : width;
}

/** Packs `rows8` rows (a multiple of 8) of a `rows8 × Cp` row matrix into `rows8/8` panels. */
function packPanels(src: usize, rows8: i32, cp: i32, dst: usize): void {
  const rowBytes = (<usize>cp) << 2;
  for (let p = 0; p < rows8; p += 8) {
    const base = src + <usize>p * rowBytes;
    const out = dst + <usize>p * rowBytes;
    for (let k = 0; k < cp; k += 4) {
      // Transpose two 4×4 blocks: rows p..p+3 and p+4..p+7, channels k..k+3.
      const ko = (<usize>k) << 2;
      for (let half = 0; half < 2; half++) {
        const r = base + <usize>(half * 4) * rowBytes + ko;
        const a = v128.load(r),
          b = v128.load(r + rowBytes),
          c = v128.load(r + 2 * rowBytes),
          d = v128.load(r + 3 * rowBytes);
        const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5),
          ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
        const cd0 = v128.shuffle<f32>(c, d, 0, 4, 1, 5),
          cd1 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
        const o = out + (ko << 3) + <usize>(half * 16);
        v128.store(o, v128.shuffle<f32>(ab0, cd0, 0, 1, 4, 5));
        v128.store(o + 32, v128.shuffle<f32>(ab0, cd0, 2, 3, 6, 7));
        v128.store(o + 64, v128.shuffle<f32>(ab1, cd1, 0, 1, 4, 5));
        v128.store(o + 96, v128.shuffle<f32>(ab1, cd1, 2, 3, 6, 7));
      }
    }
  }
}

/** Packs a `rows8 × Cp` row matrix (rows8 a multiple of 8) as groups (see the header). */
function packGroups(src: usize, rows8: i32, cp: i32, dst: usize): void {
  const rowBytes = (<usize>cp) << 2,
    groupBytes = (<usize>rows8) << 5;
  for (let r = 0; r < rows8; r++) {
    const row = src + <usize>r * rowBytes,
      out = dst + ((<usize>r) << 5);
    for (let g: usize = 0; g < rowBytes >> 5; g++) {
      v128.store(out + g * groupBytes, v128.load(row + (g << 5)));
      v128.store(out + g * groupBytes, v128.load(row + (g << 5), 16), 16);
    }
  }
}

/**
 * The packed forms of a `rows8 × Cp` row matrix into `dst` (2 · rows8 · Cp floats): its panels
 * (for similarityStrip), then its groups (for the accumulations; `groupsOf` finds them).
 */
export function packOperand(src: usize, rows8: i32, cp: i32, dst: usize): void {
  packPanels(src, rows8, cp, dst);
  packGroups(src, rows8, cp, groupsOf(dst, rows8, cp));
}

/** Where the groups of a packed operand of `rows8` rows start. */
// @ts-ignore: decorator
@inline
export function groupsOf(packed: usize, rows8: i32, cp: i32): usize {
  return packed + ((<usize>rows8 * <usize>cp) << 2);
}

/** Row `row` of the groups of a `rows8`-row operand (as the accumulations take their operand). */
// @ts-ignore: decorator
@inline
export function groupRow(packed: usize, rows8: i32, cp: i32, row: i32): usize {
  return groupsOf(packed, rows8, cp) + ((<usize>row) << 5);
}

/**
 * strip[i][j] = scale · (a_i · b_j) for i < rows4 (a multiple of 4) and the 8·nPanels columns of
 * `panels`. `a` is a row matrix (stride Cp); `strip` has row stride `stride` floats.
 * Panel-outer order keeps each 8·Cp panel in L1 while every row group of the strip reuses it.
 */
export function similarityStrip(
  a: usize,
  rows4: i32,
  panels: usize,
  nPanels: i32,
  cp: i32,
  scale: f32,
  strip: usize,
  stride: i32,
): void {
  const rowBytes = (<usize>cp) << 2,
    strideBytes = (<usize>stride) << 2,
    panelBytes = rowBytes << 3;
  const s = f32x4.splat(scale);
  for (let p = 0; p < nPanels; p++) {
    const pb0 = panels + <usize>p * panelBytes;
    for (let i = 0; i < rows4; i += 4) {
      const a0 = a + <usize>i * rowBytes,
        a1 = a0 + rowBytes,
        a2 = a1 + rowBytes,
        a3 = a2 + rowBytes;
      let c00 = f32x4.splat(0),
        c01 = c00,
        c10 = c00,
        c11 = c00,
        c20 = c00,
        c21 = c00,
        c30 = c00,
        c31 = c00;
      let pb = pb0;
      for (let ko: usize = 0; ko < rowBytes; ko += 4) {
        const b0 = v128.load(pb),
          b1 = v128.load(pb, 16);
        let x = v128.load32_splat(a0 + ko);
        c00 = madd(x, b0, c00);
        c01 = madd(x, b1, c01);
        x = v128.load32_splat(a1 + ko);
        c10 = madd(x, b0, c10);
        c11 = madd(x, b1, c11);
        x = v128.load32_splat(a2 + ko);
        c20 = madd(x, b0, c20);
        c21 = madd(x, b1, c21);
        x = v128.load32_splat(a3 + ko);
        c30 = madd(x, b0, c30);
        c31 = madd(x, b1, c31);
        pb += 32;
      }
      const o = strip + <usize>i * strideBytes + ((<usize>p) << 5);
      v128.store(o, f32x4.mul(c00, s));
      v128.store(o, f32x4.mul(c01, s), 16);
      v128.store(o + strideBytes, f32x4.mul(c10, s));
      v128.store(o + strideBytes, f32x4.mul(c11, s), 16);
      v128.store(o + 2 * strideBytes, f32x4.mul(c20, s));
      v128.store(o + 2 * strideBytes, f32x4.mul(c21, s), 16);
      v128.store(o + 3 * strideBytes, f32x4.mul(c30, s));
      v128.store(o + 3 * strideBytes, f32x4.mul(c31, s), 16);
    }
  }
}

/**
 * out[0..8) += (lo, hi). The accumulations below sum one block (at most 128 terms) from zero and
 * then add it to the running total: adding every term straight into a total that keeps growing
 * would let rounding grow with all N terms (and, when the terms are nearly parallel vectors,
 * turn into a gradient that should be zero but is not).
 */
// @ts-ignore: decorator
@inline
function addInto(out: usize, lo: v128, hi: v128): void {
  v128.store(out, f32x4.add(v128.load(out), lo));
  v128.store(out, f32x4.add(v128.load(out, 16), hi), 16);
}

// Rows of B per block of `accumulateWeighted`: 128 rows × Cp floats stay in L2 while every row
// group of the strip passes over them. A block is also a unit of the sums (addInto).
const BLOCK_ROWS = 128;

/**
 * out[i][:] += Σ_j w[i][j] · b[j][:] for i < rows4 (a multiple of 4), j < cols: a weight strip
 * (row stride `stride`) times rows of a grouped operand (`b`: groupRow of its first row, in an
 * operand of `groupRows` rows), added into the row matrix `out` (stride Cp).
 */
export function accumulateWeighted(
  w: usize,
  rows4: i32,
  cols: i32,
  stride: i32,
  b: usize,
  groupRows: i32,
  cp: i32,
  out: usize,
): void {
  const rowBytes = (<usize>cp) << 2,
    strideBytes = (<usize>stride) << 2,
    groupBytes = (<usize>groupRows) << 5;
  for (let j0 = 0; j0 < cols; j0 += BLOCK_ROWS) {
    const j1 = min(cols, j0 + BLOCK_ROWS);
    for (let i = 0; i < rows4; i += 4) {
      const w0 = w + <usize>i * strideBytes,
        w1 = w0 + strideBytes,
        w2 = w1 + strideBytes,
        w3 = w2 + strideBytes;
      const o0 = out + <usize>i * rowBytes,
        o1 = o0 + rowBytes,
        o2 = o1 + rowBytes,
        o3 = o2 + rowBytes;
      for (let co: usize = 0; co < rowBytes; co += 32) {
        let c00 = f32x4.splat(0),
          c01 = c00,
          c10 = c00,
          c11 = c00,
          c20 = c00,
          c21 = c00,
          c30 = c00,
          c31 = c00;
        let bp = b + (co >> 5) * groupBytes + ((<usize>j0) << 5);
        for (let j = j0; j < j1; j++) {
          const jo = (<usize>j) << 2;
          const b0 = v128.load(bp),
            b1 = v128.load(bp, 16);
          let x = v128.load32_splat(w0 + jo);
          c00 = madd(x, b0, c00);
          c01 = madd(x, b1, c01);
          x = v128.load32_splat(w1 + jo);
          c10 = madd(x, b0, c10);
          c11 = madd(x, b1, c11);
          x = v128.load32_splat(w2 + jo);
          c20 = madd(x, b0, c20);
          c21 = madd(x, b1, c21);
          x = v128.load32_splat(w3 + jo);
          c30 = madd(x, b0, c30);
          c31 = madd(x, b1, c31);
          bp += 32;
        }
        addInto(o0 + co, c00, c01);
        addInto(o1 + co, c10, c11);
        addInto(o2 + co, c20, c21);
        addInto(o3 + co, c30, c31);
      }
    }
  }
}

/**
 * out[j][:] += Σ_i w[i][j] · a[i][:] for j < cols4 (a multiple of 4), i < rows: the transposed
 * update, which scatters a strip's weights back onto the rows of B. `a` is the strip's own rows in
 * a grouped operand (groupRow of its first row, in an operand of `groupRows` rows), kept in L1
 * while each group of 4 output rows is finished; `out` is a row matrix (stride Cp).
 */
export function accumulateWeightedTransposed(
  w: usize,
  rows: i32,
  cols4: i32,
  stride: i32,
  a: usize,
  groupRows: i32,
  cp: i32,
  out: usize,
): void {
  const rowBytes = (<usize>cp) << 2,
    strideBytes = (<usize>stride) << 2,
    groupBytes = (<usize>groupRows) << 5;
  for (let j = 0; j < cols4; j += 4) {
    const o0 = out + <usize>j * rowBytes,
      o1 = o0 + rowBytes,
      o2 = o1 + rowBytes,
      o3 = o2 + rowBytes;
    const wj = w + ((<usize>j) << 2);
    for (let co: usize = 0; co < rowBytes; co += 32) {
      let c00 = f32x4.splat(0),
        c01 = c00,
        c10 = c00,
        c11 = c00,
        c20 = c00,
        c21 = c00,
        c30 = c00,
        c31 = c00;
      let ap = a + (co >> 5) * groupBytes,
        wp = wj;
      for (let i = 0; i < rows; i++) {
        const a0 = v128.load(ap),
          a1 = v128.load(ap, 16);
        // Broadcasts from memory (load-port work), not lane shuffles, which would take the FP pipes.
        let x = v128.load32_splat(wp);
        c00 = madd(x, a0, c00);
        c01 = madd(x, a1, c01);
        x = v128.load32_splat(wp, 4);
        c10 = madd(x, a0, c10);
        c11 = madd(x, a1, c11);
        x = v128.load32_splat(wp, 8);
        c20 = madd(x, a0, c20);
        c21 = madd(x, a1, c21);
        x = v128.load32_splat(wp, 12);
        c30 = madd(x, a0, c30);
        c31 = madd(x, a1, c31);
        ap += 32;
        wp += strideBytes;
      }
      addInto(o0 + co, c00, c01);
      addInto(o1 + co, c10, c11);
      addInto(o2 + co, c20, c21);
      addInto(o3 + co, c30, c31);
    }
  }
}
