// CFL-Net patch contrastive loss of one image (docs/spec.md §4), value and gradient.
//
// Features are average-pooled into N patch rows, sorted by class (pristine rows first, then
// forged), and L2-normalized (Z, N × Cp). Sorting makes every anchor's positives and negatives two
// contiguous column ranges, so the row passes touch each range once with no per-lane class tests.
// The similarities S = Z·Zᵀ/t are produced one strip of STRIP_ROWS rows at a time and consumed at
// once; no N × N matrix exists and memory is O(N·C).
//   Pass 1, full-width strips: every row's statistics (the loss L_i and the few numbers its
//     gradient weights need: for exact LSE over the negatives and Σσ/|P|; for cflnet D and ∂L/∂D).
//   Pass 2 (gradient), upper half-strips: S is symmetric, so each strip computes only the columns
//     from its first row on, turns s_ij into H_ij = ∂L/∂s_ij + ∂L/∂s_ji from the two rows'
//     statistics, and adds H·Z to the strip's rows and Hᵀ·Z_strip to the columns' rows.
// Work: 2N²C (pass 1) + 3N²C (pass 2), instead of 6N²C for full strips with a transposed update;
// cflnet adds N²C for its column maxima, themselves found on half-strips.

import { alloc } from './memory';
import { normalizeRows, normalizeRowsBackward } from './normalize';
import { avgPoolRows, avgPoolRowsBackward, patchLabels } from './pooling';
import { expv, hmax, hsum, logv, sigmoidFrom, softplusFrom } from './simd_math';
import { accumulateWeighted, accumulateWeightedTransposed, roundUp8, STRIP_ROWS, similarityStrip } from './similarity';

export const VARIANT_EXACT: i32 = 0;
export const VARIANT_CFLNET: i32 = 1;

const EPS: f32 = 1e-18;
// Stands for −∞ in a strip: exp(NEG − m) is 0 and it never wins a maximum.
const NEG: f32 = -3.0e38;

/** Lanes j..j+3 that lie in [lo, hi) and are not `skip`, as an all-ones mask per lane. */
// @ts-ignore: decorator
@inline
function lanesIn(j: i32, lo: i32, hi: i32, skip: i32): v128 {
  const ids = i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3));
  const inside = v128.and(i32x4.ge_s(ids, i32x4.splat(lo)), i32x4.lt_s(ids, i32x4.splat(hi)));
  return v128.andnot(inside, i32x4.eq(ids, i32x4.splat(skip)));
}

/** The column range of one class among the sorted rows: [lo, hi). */
@unmanaged
class Range {
  lo: i32 = 0;
  hi: i32 = 0;
}

/**
 * Bytes of the per-image buffers besides the features and mask, for n patches of c channels
 * (before the arena's per-buffer rounding), in the largest stage: a strip range holds Z, its
 * panels and dZ (N_p × C_p float32 each), one strip of similarities, and per row the column
 * maxima, three statistics and the float64 loss (24 per row); the row maps take 8 per patch. The
 * wrappers' memory estimates read it, so the formula lives beside the allocations.
 */
export function patchContrastKernelBytes(n: i32, c: i32): f64 {
  const np = <f64>roundUp8(n),
    matrix = np * <f64>roundUp8(c) * 4;
  return 8 * <f64>n + 3 * matrix + 24 * np + <f64>STRIP_ROWS * np * 4;
}

/**
 * What the similarity stages share, placed in the arena by patchContrastAttach: sizes and the
 * buffers (the caller's Z, column maxima, row statistics and dZ; the module's panels and strip).
 */
@unmanaged
class PatchState {
  n: i32 = 0;
  np: i32 = 0;
  cp: i32 = 0;
  pristine: i32 = 0;
  variant: i32 = 0;
  invT: f32 = 0;
  z: usize = 0;
  panels: usize = 0;
  strip: usize = 0;
  cmax: usize = 0;
  statA: usize = 0;
  statB: usize = 0;
  invP: usize = 0;
  dz: usize = 0;
  stats: usize = 0;
  own: usize = 0;
  other: usize = 0;
}

/**
 * Stage 1 of one image (C × H × W features, H × W float32 mask): patch labels (N bytes, patch
 * order) to `labelsOut`, each patch's sorted row (N int32: pristine patches first, in order, then
 * forged ones) to `rowOfOut`, the pooled, sorted and L2-normalized rows Z (N_p × C_p float32, the
 * padding zero) to `zOut` and their norms (N_p float64) to `normsOut`. Returns the number of
 * pristine rows. The similarity stages then take Z (patchContrastAttach); they may run on other
 * instances, each over a range of strips (docs/design.md §9).
 */
export function patchContrastPool(
  features: usize,
  mask: usize,
  c: i32,
  h: i32,
  w: i32,
  p: i32,
  labelsOut: usize,
  rowOfOut: usize,
  zOut: usize,
  normsOut: usize,
): i32 {
  const n = (h / p) * (w / p);
  const np = roundUp8(n),
    cp = roundUp8(c);
  patchLabels(mask, h, w, p, labelsOut);
  let pristine = 0;
  for (let k = 0; k < n; k++) if (load<u8>(labelsOut + <usize>k) == 0) pristine++;
  let nextPristine = 0,
    nextForged = pristine;
  for (let k = 0; k < n; k++) {
    const row = load<u8>(labelsOut + <usize>k) == 0 ? nextPristine++ : nextForged++;
    store<i32>(rowOfOut + ((<usize>k) << 2), row);
  }
  memory.fill(zOut, 0, <usize>np * ((<usize>cp) << 2));
  avgPoolRows(features, c, h, w, p, cp, rowOfOut, zOut);
  normalizeRows(zOut, np, cp, zOut, normsOut);
  return pristine;
}

/**
 * The state of the similarity stages over Z (n rows of c channels, `pristine` of them first, as
 * patchContrastPool wrote it) and its panels (packPanels). The caller owns and initializes the
 * other buffers (N_p float32 each): `cmax` (zeros before patchContrastColumnMax; the column maxima
 * after), `statA`, `statB`, `invP` (zeros before patchContrastStats; every row's statistics before
 * patchContrastGrad) and `dz` (N_p × C_p, zeros; 0 without a gradient). Stages, each over any consecutive ranges of
 * strips (`patchContrastStrips` of them):
 *   cflnet only: patchContrastColumnMax over every strip, first;
 *   patchContrastStats (the loss);
 *   with a gradient: patchContrastGrad, then patchContrastBackward.
 */
export function patchContrastAttach(
  z: usize,
  panels: usize,
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
  const np = roundUp8(n),
    cp = roundUp8(c);
  st.n = n;
  st.np = np;
  st.cp = cp;
  st.pristine = pristine;
  st.variant = variant;
  st.invT = <f32>(1.0 / temperature);
  st.z = z;
  st.panels = panels;
  st.strip = alloc(<usize>STRIP_ROWS * <usize>np * 4);
  st.cmax = cmax;
  st.statA = statA;
  st.statB = statB;
  st.invP = invP;
  st.dz = dz;
  // Unmanaged structs placed in the arena (the kernels allocate nothing else).
  st.stats = alloc(offsetof<RowStats>());
  st.own = alloc(offsetof<Range>());
  st.other = alloc(offsetof<Range>());
  return changetype<usize>(st);
}

/** Strips of STRIP_ROWS sorted rows in each similarity pass of an image of n patches. */
export function patchContrastStrips(n: i32): i32 {
  return (roundUp8(n) + STRIP_ROWS - 1) / STRIP_ROWS;
}

/**
 * cflnet: c_j = max(0, max_{i≠j} s_ij) over strips [s0, s1), the diagonal forced to 0. S is
 * symmetric, so each strip computes only its upper part (columns from its first row on): a pair
 * i < j is seen once, in the strip of row i, and updates both c_i (as a row maximum) and c_j (as a
 * column maximum). Half the work of full strips.
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
      width = np - i0;
    similarityStrip(
      st.z + <usize>i0 * rowBytes,
      rows,
      st.panels + <usize>i0 * rowBytes,
      width >> 3,
      cp,
      st.invT,
      strip,
      width,
    );
    for (let r = 0; r < rows; r++) {
      const row = strip + <usize>r * <usize>width * 4;
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
 * Pass 1 over strips [s0, s1), full width: each row's loss L_i (float64, sorted row order, to
 * `rowLoss`) and the statistics its gradient weights need. Rows are independent: the ranges may
 * run anywhere, in any order.
 */
export function patchContrastStats(state: usize, s0: i32, s1: i32, rowLoss: usize): void {
  const st = changetype<PatchState>(state);
  const n = st.n,
    np = st.np,
    cp = st.cp,
    strip = st.strip;
  const rowBytes = (<usize>cp) << 2;
  const stats = changetype<RowStats>(st.stats),
    own = changetype<Range>(st.own),
    other = changetype<Range>(st.other);
  for (let i0 = s0 * STRIP_ROWS; i0 < min(np, s1 * STRIP_ROWS); i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0);
    similarityStrip(st.z + <usize>i0 * rowBytes, rows, st.panels, np >> 3, cp, st.invT, strip, np);
    for (let r = 0; r < rows && i0 + r < n; r++) {
      const i = i0 + r;
      classRanges(i, st.pristine, n, own, other);
      const row = strip + <usize>r * <usize>np * 4;
      if (st.variant == VARIANT_CFLNET) cflnetRowStats(row, i, own, other, st.cmax, stats);
      else exactRowStats(row, i, own, other, stats);
      const ri = (<usize>i) << 2;
      store<f32>(st.statA + ri, stats.a);
      store<f32>(st.statB + ri, stats.b);
      store<f32>(st.invP + ri, stats.invP);
      store<f64>(rowLoss + ((<usize>i) << 3), stats.loss);
    }
  }
}

/**
 * Pass 2 (gradient) over strips [s0, s1), upper half-strips: H_ij = ∂L/∂s_ij + ∂L/∂s_ji from the
 * two rows' statistics, then dZ += H·Z on the strip's rows and Hᵀ·Z_strip on the columns' rows.
 * `gradScale` multiplies ∂(Σ_i L_i): the caller passes 1/(N·B) for the batch mean. A range writes
 * rows from its first on: ranges run elsewhere add into their own zeroed dZ, summed in range order.
 */
export function patchContrastGrad(state: usize, s0: i32, s1: i32, gradScale: f32): void {
  const st = changetype<PatchState>(state);
  const n = st.n,
    np = st.np,
    cp = st.cp,
    strip = st.strip,
    dz = st.dz;
  const rowBytes = (<usize>cp) << 2;
  const own = changetype<Range>(st.own),
    other = changetype<Range>(st.other);
  // ∂s/∂z carries 1/t; it is folded into the weights before the two accumulations.
  const weightScale = gradScale * st.invT;
  for (let i0 = s0 * STRIP_ROWS; i0 < min(np, s1 * STRIP_ROWS); i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0),
      width = np - i0;
    const zi = st.z + <usize>i0 * rowBytes;
    similarityStrip(zi, rows, st.panels + <usize>i0 * rowBytes, width >> 3, cp, st.invT, strip, width);
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const row = strip + <usize>r * <usize>width * 4;
      if (i >= n) {
        memory.fill(row, 0, (<usize>width) << 2);
        continue;
      }
      classRanges(i, st.pristine, n, own, other);
      // Columns from i + 1 on: the pairs j < i of this block belong to row j's pass.
      if (st.variant == VARIANT_CFLNET)
        cflnetPairWeights(row, i0, i, own, other, st.statA, st.statB, st.invP, st.cmax, weightScale);
      else exactPairWeights(row, i0, i, own, other, st.statA, st.statB, st.invP, weightScale);
      memory.fill(row, 0, (<usize>(r + 1)) << 2);
      if (n < np) memory.fill(row + ((<usize>(n - i0)) << 2), 0, (<usize>(np - n)) << 2);
    }
    accumulateWeighted(strip, rows, width, width, zi, cp, dz + <usize>i0 * rowBytes);
    accumulateWeightedTransposed(strip, rows, width, width, zi, cp, dz + <usize>i0 * rowBytes);
  }
}

/**
 * Last stage, with dZ complete: ∂/∂features (C × H × W) to `grad`, through the normalization and
 * the pooling (Z, its norms and the row map as patchContrastPool wrote them). dZ is overwritten.
 */
export function patchContrastBackward(
  z: usize,
  dz: usize,
  norms: usize,
  rowOf: usize,
  c: i32,
  h: i32,
  w: i32,
  p: i32,
  grad: usize,
): void {
  const np = roundUp8((h / p) * (w / p)),
    cp = roundUp8(c);
  normalizeRowsBackward(z, dz, np, cp, norms, dz);
  avgPoolRowsBackward(dz, c, h, w, p, cp, rowOf, grad);
}

/** The own-class and other-class column ranges of sorted row i. */
function classRanges(i: i32, pristine: i32, n: i32, own: Range, other: Range): void {
  const forged = i >= pristine;
  own.lo = forged ? pristine : 0;
  own.hi = forged ? n : pristine;
  other.lo = forged ? 0 : pristine;
  other.hi = forged ? pristine : n;
}

/** What pass 1 keeps of one anchor row. */
@unmanaged
class RowStats {
  loss: f64 = 0;
  a: f32 = 0;
  b: f32 = 0;
  invP: f32 = 0;
}

/**
 * Exact variant, one anchor row: L_i = (1/|P|) Σ_p softplus(LSE_N − s_ip). Keeps a = LSE_N,
 * b = Σ_p σ(LSE_N − s_ip)/|P| and 1/|P| for the gradient weights
 *   ∂L_i/∂s_ip = −σ(LSE_N − s_ip)/|P|,  ∂L_i/∂s_in = b · exp(s_in − LSE_N).
 */
function exactRowStats(row: usize, i: i32, own: Range, other: Range, out: RowStats): void {
  const positives = own.hi - own.lo - 1,
    negatives = other.hi - other.lo;
  // A row with no positive or no negative has L_i = 0 and no gradient: b = 1/|P| = 0 zero its
  // weights, and an LSE far above every logit makes the exponentials they multiply 0, not huge.
  out.loss = 0;
  out.a = 3.0e38;
  out.b = 0;
  out.invP = 0;
  if (positives == 0 || negatives == 0) return;
  let m = f32x4.splat(NEG);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    m = f32x4.pmax(
      m,
      v128.bitselect(v128.load(row + ((<usize>j) << 2)), f32x4.splat(NEG), lanesIn(j, other.lo, other.hi, -1)),
    );
  }
  const top = hmax(m),
    mv = f32x4.splat(top);
  let se = f32x4.splat(0);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    se = f32x4.add(
      se,
      v128.and(expv(f32x4.sub(v128.load(row + ((<usize>j) << 2)), mv)), lanesIn(j, other.lo, other.hi, -1)),
    );
  }
  const lse = top + f32x4.extract_lane(logv(f32x4.splat(hsum(se))), 0);
  const lv = f32x4.splat(lse);
  let lossAcc = f32x4.splat(0),
    sigAcc = f32x4.splat(0);
  for (let j = own.lo & ~3; j < own.hi; j += 4) {
    const inside = lanesIn(j, own.lo, own.hi, i);
    const x = f32x4.sub(lv, v128.load(row + ((<usize>j) << 2)));
    const e = expv(f32x4.neg(f32x4.abs(x))); // exp(−|x|) in (0, 1]
    lossAcc = f32x4.add(lossAcc, v128.and(softplusFrom(x, e), inside));
    sigAcc = f32x4.add(sigAcc, v128.and(sigmoidFrom(x, e), inside));
  }
  const invP: f32 = <f32>1.0 / <f32>positives;
  out.loss = <f64>hsum(lossAcc) / <f64>positives;
  out.a = lse;
  out.b = hsum(sigAcc) * invP;
  out.invP = invP;
}

/** σ(lse − s) for a vector of s. */
// @ts-ignore: decorator
@inline
function sigmoidGap(lse: v128, s: v128): v128 {
  const x = f32x4.sub(lse, s);
  return sigmoidFrom(x, expv(f32x4.neg(f32x4.abs(x))));
}

/**
 * Exact variant, pass 2, columns [i0, N) of row i: H_ij = ∂L_i/∂s_ij + ∂L_j/∂s_ji · scale from
 * both rows' statistics (s_ji = s_ij). Same-class pairs are positives for both rows, other-class
 * pairs negatives for both. The caller zeroes the columns up to i and the padding.
 */
function exactPairWeights(
  row: usize,
  i0: i32,
  i: i32,
  own: Range,
  other: Range,
  lse: usize,
  b: usize,
  invP: usize,
  scale: f32,
): void {
  const ri = (<usize>i) << 2;
  const lseI = f32x4.splat(load<f32>(lse + ri)),
    bI = f32x4.splat(load<f32>(b + ri)),
    invPI = f32x4.splat(load<f32>(invP + ri));
  const neg = f32x4.splat(-scale),
    pos = f32x4.splat(scale);
  const lo = max(own.lo, i + 1);
  for (let j = lo & ~3; j < own.hi; j += 4) {
    const o = (<usize>j) << 2,
      local = row + ((<usize>(j - i0)) << 2);
    const s = v128.load(local);
    const gI = f32x4.mul(sigmoidGap(lseI, s), invPI);
    const gJ = f32x4.mul(sigmoidGap(v128.load(lse + o), s), v128.load(invP + o));
    v128.store(local, v128.bitselect(f32x4.mul(f32x4.add(gI, gJ), neg), s, lanesIn(j, lo, own.hi, -1)));
  }
  const lo2 = max(other.lo, i + 1);
  for (let j = lo2 & ~3; j < other.hi; j += 4) {
    const o = (<usize>j) << 2,
      local = row + ((<usize>(j - i0)) << 2);
    const s = v128.load(local);
    const gI = f32x4.mul(bI, expv(f32x4.sub(s, lseI)));
    const gJ = f32x4.mul(v128.load(b + o), expv(f32x4.sub(s, v128.load(lse + o))));
    v128.store(local, v128.bitselect(f32x4.mul(f32x4.add(gI, gJ), pos), s, lanesIn(j, lo2, other.hi, -1)));
  }
}

/**
 * cflnet variant, one anchor row, with the column maxima c_j held constant:
 *   e_ij = exp(s_ij − c_j), D = Σ_N e_in, den = (e_ip + D) + ε, r = e_ip/den, λ = −ln(r + ε),
 *   L_i = (1/|P|) Σ_P λ_ip.
 * Keeps a = D, b = ∂L_i/∂D = (1/|P|) Σ_P (e/(e + ε·den))/den and 1/|P|; the positives' weights
 * −((D + ε)/den) · (e/(e + ε·den)) / |P| are written in forms whose factors stay ≤ 1, so float32
 * never overflows.
 */
function cflnetRowStats(row: usize, i: i32, own: Range, other: Range, cmax: usize, out: RowStats): void {
  const positives = own.hi - own.lo - 1;
  out.loss = 0;
  out.a = 0;
  out.b = 0;
  out.invP = 0;
  if (positives == 0) return;
  let dAcc = f32x4.splat(0);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    const o = (<usize>j) << 2;
    dAcc = f32x4.add(
      dAcc,
      v128.and(expv(f32x4.sub(v128.load(row + o), v128.load(cmax + o))), lanesIn(j, other.lo, other.hi, -1)),
    );
  }
  const d = hsum(dAcc);
  const dv = f32x4.splat(d),
    eps = f32x4.splat(EPS);
  let lossAcc = f32x4.splat(0),
    dDAcc = f32x4.splat(0);
  for (let j = own.lo & ~3; j < own.hi; j += 4) {
    const o = (<usize>j) << 2;
    const inside = lanesIn(j, own.lo, own.hi, i);
    // Lanes outside the range compute on e = 1, which keeps them finite; they are masked out.
    const e = v128.bitselect(expv(f32x4.sub(v128.load(row + o), v128.load(cmax + o))), f32x4.splat(1), inside);
    const den = f32x4.add(f32x4.add(e, dv), eps);
    const lambda = f32x4.neg(logv(f32x4.add(f32x4.div(e, den), eps)));
    const q = f32x4.div(e, f32x4.add(e, f32x4.mul(eps, den)));
    lossAcc = f32x4.add(lossAcc, v128.and(lambda, inside));
    dDAcc = f32x4.add(dDAcc, v128.and(f32x4.div(q, den), inside));
  }
  const invP: f32 = <f32>1.0 / <f32>positives;
  out.loss = <f64>hsum(lossAcc) / <f64>positives;
  out.a = d;
  out.b = hsum(dDAcc) * invP;
  out.invP = invP;
}

/** −((D + ε)/den) · (e/(e + ε·den)) for e = exp(s − c) and den = e + D + ε (a positive's weight). */
// @ts-ignore: decorator
@inline
function cflnetPositive(s: v128, c: v128, d: v128): v128 {
  const eps = f32x4.splat(EPS);
  const e = expv(f32x4.sub(s, c));
  const den = f32x4.add(f32x4.add(e, d), eps);
  const q = f32x4.div(e, f32x4.add(e, f32x4.mul(eps, den)));
  return f32x4.mul(f32x4.div(f32x4.add(d, eps), den), q);
}

/**
 * cflnet variant, pass 2, columns [i0, N) of row i: H_ij = ∂L_i/∂s_ij + ∂L_j/∂s_ji · scale, with
 * e_ij = exp(s − c_j) for row i and e_ji = exp(s − c_i) for row j. The caller zeroes the columns
 * up to i and the padding.
 */
function cflnetPairWeights(
  row: usize,
  i0: i32,
  i: i32,
  own: Range,
  other: Range,
  dStat: usize,
  dD: usize,
  invP: usize,
  cmax: usize,
  scale: f32,
): void {
  const ri = (<usize>i) << 2;
  const dI = f32x4.splat(load<f32>(dStat + ri)),
    dDI = f32x4.splat(load<f32>(dD + ri)),
    invPI = f32x4.splat(load<f32>(invP + ri));
  const cI = f32x4.splat(load<f32>(cmax + ri));
  const neg = f32x4.splat(-scale),
    pos = f32x4.splat(scale);
  const lo = max(own.lo, i + 1);
  for (let j = lo & ~3; j < own.hi; j += 4) {
    const o = (<usize>j) << 2,
      local = row + ((<usize>(j - i0)) << 2);
    const s = v128.load(local);
    const gI = f32x4.mul(cflnetPositive(s, v128.load(cmax + o), dI), invPI);
    const gJ = f32x4.mul(cflnetPositive(s, cI, v128.load(dStat + o)), v128.load(invP + o));
    v128.store(local, v128.bitselect(f32x4.mul(f32x4.add(gI, gJ), neg), s, lanesIn(j, lo, own.hi, -1)));
  }
  const lo2 = max(other.lo, i + 1);
  for (let j = lo2 & ~3; j < other.hi; j += 4) {
    const o = (<usize>j) << 2,
      local = row + ((<usize>(j - i0)) << 2);
    const s = v128.load(local);
    const gI = f32x4.mul(dDI, expv(f32x4.sub(s, v128.load(cmax + o))));
    const gJ = f32x4.mul(v128.load(dD + o), expv(f32x4.sub(s, cI)));
    v128.store(local, v128.bitselect(f32x4.mul(f32x4.add(gI, gJ), pos), s, lanesIn(j, lo2, other.hi, -1)));
  }
}
