// CFL-Net patch contrastive loss of one image (docs/spec.md §4), value and gradient.
//
// Features are average-pooled into N patch rows, sorted by class and L2-normalized (Z, N_p × Cp):
// the P pristine rows first, then — from row P_8 = P rounded up to 8 — the F forged ones, so that
// each class is a block of whole panels. An anchor's negatives are then the other block and its
// positives its own, and every pass works on one block pair with no per-lane class tests. The
// similarities S = Z·Zᵀ/t are produced one strip of STRIP_ROWS rows (of one class) at a time and
// consumed at once; no N × N matrix exists and memory is O(N·C). Passes (docs/design.md §2):
//   negatives: the pristine × forged block once — a pristine row's exact LSE or cflnet D in its
//     strip, a forged row's from running column maxima and sums, merged across strips;
//   positives: each class block's upper half (S is symmetric) — the loss terms and the sums the
//     negatives' gradient weights need, for the row and for the column of every pair, and with a
//     gradient H = ∂L/∂s_ij + ∂L/∂s_ji of the positive pairs, added as H·Z and Hᵀ·Z;
//   negative gradient: the pristine × forged block once more — H of the negative pairs, both ways.
// Work with a gradient: 4·P·F·C + 1.5·(P² + F²)·C multiply-adds (1.71·N²C at 30 % forged; at most
// 1.75·N²C), instead of the 2.5·N²C of full-width statistics and a half-strip gradient; without it
// P·F·C + 0.5·(P² + F²)·C. cflnet adds its column maxima on half-strips of all of S (0.5·N²C).

import { alloc } from './memory';
import { normalizeRows, normalizeRowsBackward } from './normalize';
import { avgPoolRows, avgPoolRowsBackward } from './pooling';
import { expNonPositive, hmax, hsum, logv, mergeRunningLse, sigmoidFrom, softplusFrom } from './simd_math';
import {
  accumulateWeighted,
  accumulateWeightedTransposed,
  groupRow,
  lanesIn,
  roundUp8,
  similarityStrip,
  stripStride,
} from './similarity';
import { STRIP_ROWS, VARIANT_CFLNET } from '../src/codes';

const EPS: f32 = 1e-18;
// Stands for −∞ in a maximum: it never wins one.
const NEG: f32 = -3.0e38;
// The LSE of a row with no loss: exp(s − LSE) is 0 for it.
const NO_LSE: f32 = 3.0e38;

/** Rows of Z for n patches of which `pristine` are pristine: each class block padded to 8. */
export function patchContrastRows(n: i32, pristine: i32): i32 {
  return roundUp8(pristine) + roundUp8(n - pristine);
}

/** Strips of the class blocks (pristine ones first): what the negatives and positives passes run over. */
export function patchContrastClassStrips(n: i32, pristine: i32): i32 {
  return stripsOf(roundUp8(pristine)) + stripsOf(roundUp8(n - pristine));
}

/** Strips of the pristine block: what the negative-gradient pass runs over. */
export function patchContrastPristineStrips(pristine: i32): i32 {
  return stripsOf(roundUp8(pristine));
}

/** Uniform strips over all N_p rows: what cflnet's column maxima run over. */
export function patchContrastStrips(rows: i32): i32 {
  return stripsOf(rows);
}

// @ts-ignore: decorator
@inline
function stripsOf(rows: i32): i32 {
  return (rows + STRIP_ROWS - 1) / STRIP_ROWS;
}

/**
 * Bytes of the per-image buffers besides the features and mask, for n patches of c channels
 * (before the arena's per-buffer rounding), in the largest stage, for any class split (N_p ≤
 * roundUp8(n) + 8): a strip range holds Z, its packed forms (two matrices) and dZ (N_p × C_p
 * float32 each), one strip of similarities, and per row the column maxima, three statistics, two
 * column sums (float32) and two row sums (float64): 36 per row; the row maps take 8 per patch. The
 * wrappers' memory estimates read it, so the formula lives beside the allocations.
 */
export function patchContrastKernelBytes(n: i32, c: i32): f64 {
  const np = <f64>(roundUp8(n) + 8),
    matrix = np * <f64>roundUp8(c) * 4;
  return 8 * <f64>n + 4 * matrix + 52 * np + <f64>STRIP_ROWS * (np + 8) * 4;
}

/**
 * What the passes share, placed in the arena by patchContrastAttach: sizes, the caller's buffers
 * (Z, its packed forms, the statistics, dZ) and the module's strip and column sums.
 */
@unmanaged
class PatchState {
  n: i32 = 0;
  np: i32 = 0;
  cp: i32 = 0;
  /** Pristine rows [0, pristine), forged rows [forgedStart, forgedEnd). */
  pristine: i32 = 0;
  forgedStart: i32 = 0;
  forgedEnd: i32 = 0;
  variant: i32 = 0;
  invT: f32 = 0;
  z: usize = 0;
  /** Z packed (similarity.ts packOperand): its panels, then its groups. */
  packed: usize = 0;
  strip: usize = 0;
  cmax: usize = 0;
  statA: usize = 0;
  statB: usize = 0;
  invP: usize = 0;
  dz: usize = 0;
  colLoss: usize = 0;
  colB: usize = 0;
  classStrip: usize = 0;
}

/**
 * Stage 1 of one image in one call (tests and benchmarks; the runtime pools a few channels at a
 * time with patchContrastPoolChannels): the C × H × W features average-pooled into the rows that
 * `rowOf` gives each patch (N int32, docs/design.md §2: pristine patches from row 0, forged ones
 * from row roundUp8(P)), then L2-normalized: `rows` rows of Z (rows × C_p float32, the padding
 * zero) to `zOut` and their norms (float64 per row) to `normsOut`.
 */
export function patchContrastPool(
  features: usize,
  c: i32,
  h: i32,
  w: i32,
  p: i32,
  rowOf: usize,
  rows: i32,
  zOut: usize,
  normsOut: usize,
): void {
  memory.fill(zOut, 0, <usize>rows * ((<usize>roundUp8(c)) << 2));
  patchContrastPoolChannels(features, 0, c, c, h, w, p, rowOf, zOut);
  patchContrastNormalize(zOut, rows, c, normsOut);
}

/**
 * Channels [c0, c0 + count) of C, `features` holding just them (count × H × W), pooled into their
 * columns of Z (zeroed by the caller) at the rows `rowOf` gives each patch.
 */
export function patchContrastPoolChannels(
  features: usize,
  c0: i32,
  count: i32,
  c: i32,
  h: i32,
  w: i32,
  p: i32,
  rowOf: usize,
  z: usize,
): void {
  avgPoolRows(features, count, h, w, p, roundUp8(c), rowOf, z + ((<usize>c0) << 2));
}

export function patchContrastNormalize(z: usize, rows: i32, c: i32, normsOut: usize): void {
  normalizeRows(z, rows, roundUp8(c), z, normsOut);
}

/**
 * The state of the passes over Z (n rows of c channels, `pristine` of them pristine, laid out as
 * patchContrastPool wrote it) and its packed forms (`packed`: packOperand). The caller owns and
 * initializes the other buffers (patchContrastRows float32 each): `cmax` (zeros before
 * patchContrastColumnMax; the column maxima after), `statA` and `invP` (written by
 * patchContrastNegatives), `statB` (b = the merged positives' b-sums × 1/|P|, before
 * patchContrastNegativeGrad) and `dz` (N_p × C_p, zeros; 0 without a gradient). Each pass runs
 * over any consecutive ranges of its strips, anywhere, in this order: cflnet's
 * patchContrastColumnMax, patchContrastNegatives, patchContrastPositives, then with a gradient
 * patchContrastNegativeGrad and patchContrastBackward.
 */
export function patchContrastAttach(
  z: usize,
  packed: usize,
  n: i32,
  c: i32,
  pristine: i32,
  variant: i32,
  temperature: f64,
  cmax: usize,
  statA: usize,
  statB: usize,
  invP: usize,
  dz: usize,
): usize {
  const st = changetype<PatchState>(alloc(offsetof<PatchState>()));
  const np = patchContrastRows(n, pristine);
  st.n = n;
  st.np = np;
  st.cp = roundUp8(c);
  st.pristine = pristine;
  st.forgedStart = roundUp8(pristine);
  st.forgedEnd = roundUp8(pristine) + n - pristine;
  st.variant = variant;
  st.invT = <f32>(1.0 / temperature);
  st.z = z;
  st.packed = packed;
  st.strip = alloc(<usize>STRIP_ROWS * <usize>stripStride(np) * 4);
  st.colLoss = alloc((<usize>np) << 2);
  st.colB = alloc((<usize>np) << 2);
  st.classStrip = alloc(offsetof<ClassStrip>());
  st.cmax = cmax;
  st.statA = statA;
  st.statB = statB;
  st.invP = invP;
  st.dz = dz;
  return changetype<usize>(st);
}

/** A strip of a class block: its first row, its rows (a multiple of 8) and its block's bounds. */
@unmanaged
class ClassStrip {
  i0: i32 = 0;
  rows: i32 = 0;
  /** Real rows of the class: [lo, hi); the block (padded to 8) ends at `end`. */
  lo: i32 = 0;
  hi: i32 = 0;
  end: i32 = 0;
  /** The other class: [otherLo, otherHi), its block [otherStart, otherEnd). */
  otherLo: i32 = 0;
  otherHi: i32 = 0;
  otherStart: i32 = 0;
  otherEnd: i32 = 0;
}

/** Class strip s: the pristine block's strips, then the forged block's. */
function classStrip(st: PatchState, s: i32, out: ClassStrip): void {
  const pristineStrips = stripsOf(st.forgedStart);
  const forged = s >= pristineStrips;
  const start = forged ? st.forgedStart : 0;
  out.end = forged ? st.np : st.forgedStart;
  out.i0 = start + (forged ? s - pristineStrips : s) * STRIP_ROWS;
  out.rows = min(STRIP_ROWS, out.end - out.i0);
  out.lo = start;
  out.hi = forged ? st.forgedEnd : st.pristine;
  out.otherStart = forged ? 0 : st.forgedStart;
  out.otherEnd = forged ? st.forgedStart : st.np;
  out.otherLo = out.otherStart;
  out.otherHi = forged ? st.pristine : st.forgedEnd;
}

/**
 * cflnet: c_j = max(0, max_{i≠j} s_ij) over uniform strips [s0, s1) of all N_p rows, the diagonal
 * forced to 0. Each strip computes only its upper part (columns from its first row on): a pair
 * i < j is seen once and updates both c_i (a row maximum) and c_j (a column maximum). Padding rows
 * are zero vectors, whose similarities 0 never raise a maximum ≥ 0.
 */
export function patchContrastColumnMax(state: usize, s0: i32, s1: i32): void {
  const st = changetype<PatchState>(state);
  const np = st.np,
    cp = st.cp,
    cmax = st.cmax,
    strip = st.strip;
  const rowBytes = (<usize>cp) << 2;
  for (let i0 = s0 * STRIP_ROWS; i0 < min(np, s1 * STRIP_ROWS); i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0),
      width = np - i0,
      stride = stripStride(width);
    similarityStrip(
      st.z + <usize>i0 * rowBytes,
      rows,
      st.packed + <usize>i0 * rowBytes,
      width >> 3,
      cp,
      st.invT,
      strip,
      stride,
    );
    for (let r = 0; r < rows; r++) {
      const row = strip + <usize>r * <usize>stride * 4;
      store<f32>(row + ((<usize>r) << 2), 0); // s'_ii = 0
      let m = f32x4.splat(0);
      for (let j = 0; j < width; j += 4) {
        const o = (<usize>j) << 2,
          v = v128.load(row + o);
        m = f32x4.pmax(m, v);
        const col = cmax + ((<usize>i0) << 2) + o;
        v128.store(col, f32x4.pmax(v128.load(col), v));
      }
      const slot = cmax + ((<usize>(i0 + r)) << 2);
      store<f32>(slot, max(load<f32>(slot), hmax(m)));
    }
  }
}

/**
 * The negatives pass over pristine strips [s0, s1): the pristine × forged block once. A pristine
 * row's statistic is complete in its strip — exact: statA = LSE over the forged rows, or NO_LSE for
 * a row without loss (no positive or no negative); cflnet: statA = D = Σ_j exp(s_ij − c_j). A forged
 * row's comes from every pristine strip, so each strip merges into the range's column partials
 * (float32 per forged row, from `forgedStart`): exact: the running maximum `colMax` (−3e38 before
 * the first strip) and sum `colSum` of exp(s − max); cflnet: `colSum` += Σ_i exp(s_ij − c_i). A
 * range merges into its own partials, merged in range order by the caller.
 */
export function patchContrastNegatives(state: usize, s0: i32, s1: i32, colMax: usize, colSum: usize): void {
  const st = changetype<PatchState>(state);
  const cp = st.cp,
    strip = st.strip,
    tmp = st.colLoss;
  const rowBytes = (<usize>cp) << 2;
  const cflnet = st.variant == VARIANT_CFLNET;
  const f0 = st.forgedStart,
    width = st.np - f0,
    stride = stripStride(width),
    forged = st.forgedEnd - f0;
  const live = st.pristine > 1 && (cflnet || forged > 0);
  for (let s = s0; s < s1; s++) {
    const i0 = s * STRIP_ROWS,
      rows = min(STRIP_ROWS, f0 - i0),
      real = min(rows, st.pristine - i0);
    if (width > 0)
      similarityStrip(
        st.z + <usize>i0 * rowBytes,
        rows,
        st.packed + <usize>f0 * rowBytes,
        width >> 3,
        cp,
        st.invT,
        strip,
        stride,
      );
    // Rows: each pristine row against every forged row.
    for (let r = 0; r < real; r++) {
      const row = strip + <usize>r * <usize>stride * 4;
      let a: f32 = cflnet ? 0 : NO_LSE;
      if (cflnet && live) {
        let acc = f32x4.splat(0);
        const c = st.cmax + ((<usize>f0) << 2);
        for (let j = 0; j < forged; j += 4) {
          const o = (<usize>j) << 2;
          acc = f32x4.add(
            acc,
            v128.and(expNonPositive(f32x4.sub(v128.load(row + o), v128.load(c + o))), lanesIn(j, 0, forged)),
          );
        }
        a = hsum(acc);
      } else if (live) {
        let m = f32x4.splat(NEG);
        for (let j = 0; j < forged; j += 4)
          m = f32x4.pmax(
            m,
            v128.bitselect(v128.load(row + ((<usize>j) << 2)), f32x4.splat(NEG), lanesIn(j, 0, forged)),
          );
        const top = hmax(m),
          mv = f32x4.splat(top);
        let se = f32x4.splat(0);
        for (let j = 0; j < forged; j += 4)
          se = f32x4.add(
            se,
            v128.and(expNonPositive(f32x4.sub(v128.load(row + ((<usize>j) << 2)), mv)), lanesIn(j, 0, forged)),
          );
        a = top + f32x4.extract_lane(logv(f32x4.splat(hsum(se))), 0);
      }
      store<f32>(st.statA + ((<usize>(i0 + r)) << 2), a);
    }
    if (real <= 0) continue;
    // Columns: each forged row against the strip's pristine rows.
    if (cflnet) {
      for (let r = 0; r < real; r++) {
        const row = strip + <usize>r * <usize>stride * 4;
        const c = f32x4.splat(load<f32>(st.cmax + ((<usize>(i0 + r)) << 2)));
        for (let j = 0; j < forged; j += 4) {
          const o = (<usize>j) << 2;
          v128.store(colSum + o, f32x4.add(v128.load(colSum + o), expNonPositive(f32x4.sub(v128.load(row + o), c))));
        }
      }
      continue;
    }
    for (let j = 0; j < width; j += 4) v128.store(tmp + ((<usize>j) << 2), f32x4.splat(NEG));
    for (let r = 0; r < real; r++) {
      const row = strip + <usize>r * <usize>stride * 4;
      for (let j = 0; j < forged; j += 4) {
        const o = (<usize>j) << 2;
        v128.store(tmp + o, f32x4.pmax(v128.load(tmp + o), v128.load(row + o)));
      }
    }
    for (let j = 0; j < forged; j += 4) {
      const o = (<usize>j) << 2;
      const top = v128.load(tmp + o);
      let se = f32x4.splat(0);
      for (let r = 0; r < real; r++)
        se = f32x4.add(se, expNonPositive(f32x4.sub(v128.load(strip + <usize>r * <usize>stride * 4 + o), top)));
      mergeRunningLse(colMax + o, colSum + o, top, se);
    }
  }
}

/**
 * The positives pass over class strips [s0, s1): the upper half of each class block. For every
 * positive pair i < j it adds the pair's loss term and b term of row i (anchor i, positive j) to
 * `lossSum[i]` and `bSum[i]`, and those of row j (anchor j, positive i) to `lossSum[j]` and
 * `bSum[j]` (float64 per row; a range adds into its own zeroed sums, merged in range order). Then
 * L_i = lossSum_i/|P_i| and b_i = bSum_i/|P_i|:
 *   exact: term softplus(LSE_i − s_ij), b term σ(LSE_i − s_ij);
 *   cflnet: e = exp(s_ij − c_j), den = e + D_i + ε, term −ln(e/den + ε), b term (e/(e + ε·den))/den.
 * With `grad` ≠ 0, H_ij = ∂L_i/∂s_ij + ∂L_j/∂s_ji (× gradScale) of the positive pairs, added as
 * H·Z to the strip's rows and Hᵀ·Z_strip to the columns' rows of dZ (rows from the strip's first
 * on: a range adds into its own zeroed dZ, summed in range order).
 */
export function patchContrastPositives(
  state: usize,
  s0: i32,
  s1: i32,
  lossSum: usize,
  bSum: usize,
  gradScale: f32,
  grad: i32,
): void {
  const st = changetype<PatchState>(state);
  const cp = st.cp,
    strip = st.strip,
    colLoss = st.colLoss,
    colB = st.colB;
  const rowBytes = (<usize>cp) << 2;
  const cs = changetype<ClassStrip>(st.classStrip);
  const cflnet = st.variant == VARIANT_CFLNET;
  // ∂s/∂z carries 1/t; it is folded into the weights before the two accumulations.
  const scale = f32x4.splat(-gradScale * st.invT);
  for (let s = s0; s < s1; s++) {
    classStrip(st, s, cs);
    const i0 = cs.i0,
      width = cs.end - i0,
      stride = stripStride(width),
      hi = cs.hi;
    // A class of one has no positive pair (and L = 0 for its row).
    if (hi - cs.lo < 2) continue;
    const zi = st.z + <usize>i0 * rowBytes;
    similarityStrip(zi, cs.rows, st.packed + <usize>i0 * rowBytes, width >> 3, cp, st.invT, strip, stride);
    memory.fill(colLoss, 0, (<usize>width) << 2);
    memory.fill(colB, 0, (<usize>width) << 2);
    for (let r = 0; r < cs.rows; r++) {
      const i = i0 + r;
      const row = strip + <usize>r * <usize>stride * 4;
      const ri = (<usize>i) << 2;
      const invPI = i < hi ? load<f32>(st.invP + ri) : 0;
      if (invPI == 0) {
        if (grad != 0) memory.fill(row, 0, (<usize>width) << 2);
        continue;
      }
      // Columns i + 1 .. hi − 1 of the block; the pairs j ≤ i of the strip belong to row j.
      const lo = i + 1;
      let lossAcc = f32x4.splat(0),
        bAcc = f32x4.splat(0);
      const aI = f32x4.splat(load<f32>(st.statA + ri)),
        pI = f32x4.splat(invPI);
      const cI = cflnet ? f32x4.splat(load<f32>(st.cmax + ri)) : f32x4.splat(0);
      for (let jl = (lo - i0) & ~3; jl < width; jl += 4) {
        const j = i0 + jl;
        const o = (<usize>j) << 2,
          local = row + ((<usize>jl) << 2),
          col = (<usize>jl) << 2;
        const inside = lanesIn(j, lo, hi);
        const sv = v128.load(local);
        const aJ = v128.load(st.statA + o);
        let termI: v128, termJ: v128, bI: v128, bJ: v128, gI: v128, gJ: v128;
        if (cflnet) {
          const eps = f32x4.splat(EPS);
          const eI = expNonPositive(f32x4.sub(sv, v128.load(st.cmax + o))),
            eJ = expNonPositive(f32x4.sub(sv, cI));
          const denI = f32x4.add(f32x4.add(eI, aI), eps),
            denJ = f32x4.add(f32x4.add(eJ, aJ), eps);
          // Two divisions a side: 1/den (≤ 1e18, den ≥ ε) and q = e/(e + ε·den).
          const invI = f32x4.div(f32x4.splat(1), denI),
            invJ = f32x4.div(f32x4.splat(1), denJ);
          const qI = f32x4.div(eI, f32x4.add(eI, f32x4.mul(eps, denI))),
            qJ = f32x4.div(eJ, f32x4.add(eJ, f32x4.mul(eps, denJ)));
          termI = f32x4.neg(logv(f32x4.add(f32x4.mul(eI, invI), eps)));
          termJ = f32x4.neg(logv(f32x4.add(f32x4.mul(eJ, invJ), eps)));
          bI = f32x4.mul(qI, invI);
          bJ = f32x4.mul(qJ, invJ);
          // −∂λ/∂s = ((D + ε)/den) · q: factors ≤ 1, so float32 never overflows.
          gI = f32x4.mul(f32x4.mul(f32x4.add(aI, eps), invI), qI);
          gJ = f32x4.mul(f32x4.mul(f32x4.add(aJ, eps), invJ), qJ);
        } else {
          const xI = f32x4.sub(aI, sv),
            xJ = f32x4.sub(aJ, sv);
          const eI = expNonPositive(f32x4.neg(f32x4.abs(xI))),
            eJ = expNonPositive(f32x4.neg(f32x4.abs(xJ)));
          termI = softplusFrom(xI, eI);
          termJ = softplusFrom(xJ, eJ);
          bI = sigmoidFrom(xI, eI);
          bJ = sigmoidFrom(xJ, eJ);
          gI = bI;
          gJ = bJ;
        }
        lossAcc = f32x4.add(lossAcc, v128.and(termI, inside));
        bAcc = f32x4.add(bAcc, v128.and(bI, inside));
        v128.store(colLoss + col, f32x4.add(v128.load(colLoss + col), v128.and(termJ, inside)));
        v128.store(colB + col, f32x4.add(v128.load(colB + col), v128.and(bJ, inside)));
        if (grad != 0) {
          const h = f32x4.mul(f32x4.add(f32x4.mul(gI, pI), f32x4.mul(gJ, v128.load(st.invP + o))), scale);
          v128.store(local, v128.and(h, inside));
        }
      }
      const li = (<usize>i) << 3;
      store<f64>(lossSum + li, load<f64>(lossSum + li) + <f64>hsum(lossAcc));
      store<f64>(bSum + li, load<f64>(bSum + li) + <f64>hsum(bAcc));
      if (grad != 0) memory.fill(row, 0, (<usize>((lo - i0) & ~3)) << 2);
    }
    // The columns' sums: rows i0 + 1 .. hi − 1.
    for (let j = i0 + 1; j < hi; j++) {
      const lj = (<usize>j) << 3,
        col = (<usize>(j - i0)) << 2;
      store<f64>(lossSum + lj, load<f64>(lossSum + lj) + <f64>load<f32>(colLoss + col));
      store<f64>(bSum + lj, load<f64>(bSum + lj) + <f64>load<f32>(colB + col));
    }
    if (grad != 0) {
      const gi = groupRow(st.packed, st.np, cp, i0);
      accumulateWeighted(strip, cs.rows, width, stride, gi, st.np, cp, st.dz + <usize>i0 * rowBytes);
      accumulateWeightedTransposed(strip, cs.rows, width, stride, gi, st.np, cp, st.dz + <usize>i0 * rowBytes);
    }
  }
}

/**
 * The negative gradient over pristine strips [s0, s1): the pristine × forged block once. For a
 * pair (i pristine, j forged) H_ij = ∂L_i/∂s_ij + ∂L_j/∂s_ji (× gradScale), with b = statB:
 *   exact: b_i·exp(s − LSE_i) + b_j·exp(s − LSE_j);
 *   cflnet: b_i·exp(s − c_j) + b_j·exp(s − c_i);
 * added as H·Z_forged to the strip's rows and Hᵀ·Z_strip to the forged rows of dZ (a range adds
 * into its own zeroed dZ, summed in range order).
 */
export function patchContrastNegativeGrad(state: usize, s0: i32, s1: i32, gradScale: f32): void {
  const st = changetype<PatchState>(state);
  const cp = st.cp,
    strip = st.strip;
  const rowBytes = (<usize>cp) << 2;
  const f0 = st.forgedStart,
    width = st.np - f0,
    stride = stripStride(width),
    forged = st.forgedEnd - f0;
  if (width == 0) return;
  const cflnet = st.variant == VARIANT_CFLNET;
  const scale = f32x4.splat(gradScale * st.invT);
  const gf = groupRow(st.packed, st.np, cp, f0);
  for (let s = s0; s < s1; s++) {
    const i0 = s * STRIP_ROWS,
      rows = min(STRIP_ROWS, f0 - i0);
    const zi = st.z + <usize>i0 * rowBytes;
    similarityStrip(zi, rows, st.packed + <usize>f0 * rowBytes, width >> 3, cp, st.invT, strip, stride);
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const row = strip + <usize>r * <usize>stride * 4;
      const ri = (<usize>i) << 2;
      if (i >= st.pristine) {
        memory.fill(row, 0, (<usize>width) << 2);
        continue;
      }
      const bI = f32x4.splat(load<f32>(st.statB + ri));
      // exact: exp(s − LSE_i) and exp(s − LSE_j); cflnet: exp(s − c_j) and exp(s − c_i).
      const aI = f32x4.splat(load<f32>((cflnet ? st.cmax : st.statA) + ri));
      for (let j = 0; j < width; j += 4) {
        const o = (<usize>(f0 + j)) << 2,
          local = row + ((<usize>j) << 2);
        const sv = v128.load(local);
        const bJ = v128.load(st.statB + o);
        const gI = f32x4.mul(bI, expNonPositive(f32x4.sub(sv, cflnet ? v128.load(st.cmax + o) : aI)));
        const gJ = f32x4.mul(bJ, expNonPositive(f32x4.sub(sv, cflnet ? aI : v128.load(st.statA + o))));
        v128.store(local, v128.and(f32x4.mul(f32x4.add(gI, gJ), scale), lanesIn(j, 0, forged)));
      }
    }
    accumulateWeighted(strip, rows, width, stride, gf, st.np, cp, st.dz + <usize>i0 * rowBytes);
    const gi = groupRow(st.packed, st.np, cp, i0);
    accumulateWeightedTransposed(strip, rows, width, stride, gi, st.np, cp, st.dz + <usize>f0 * rowBytes);
  }
}

/**
 * Last stage, with dZ complete: ∂/∂features (C × H × W) to `grad`, through the normalization and
 * the pooling (Z, its norms and the row map as patchContrastPool wrote them; `rows` = N_p). dZ is
 * overwritten.
 */
export function patchContrastBackward(
  z: usize,
  dz: usize,
  norms: usize,
  rowOf: usize,
  rows: i32,
  c: i32,
  h: i32,
  w: i32,
  p: i32,
  grad: usize,
): void {
  patchContrastBackwardRows(z, dz, norms, rows, c);
  patchContrastUnpoolChannels(dz, 0, c, c, h, w, p, rowOf, grad);
}

/**
 * patchContrastBackward in steps, for a gradient taken a few channels at a time: dZ through the
 * normalization (in place) first; then channels [c0, c0 + count) of the gradient to `grad`, which
 * holds just them (count × H × W). The same bits as patchContrastBackward.
 */
export function patchContrastBackwardRows(z: usize, dz: usize, norms: usize, rows: i32, c: i32): void {
  normalizeRowsBackward(z, dz, rows, roundUp8(c), norms, dz);
}

export function patchContrastUnpoolChannels(
  dz: usize,
  c0: i32,
  count: i32,
  c: i32,
  h: i32,
  w: i32,
  p: i32,
  rowOf: usize,
  grad: usize,
): void {
  avgPoolRowsBackward(dz + ((<usize>c0) << 2), count, h, w, p, roundUp8(c), rowOf, grad);
}
