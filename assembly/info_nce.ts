// FOCAL InfoNCE++ of one image (docs/spec.md §5), value and gradient.
//
// Queries U (J pristine pixels) and negatives X (M forged pixels) are gathered into row matrices
// and L2-normalized. The J × M block of logits u·x/t is produced one strip of query rows at a time
// and consumed at once (row log-sum-exp together with the positive logit ℓ0, then the gradient
// weights in place), so no J × M matrix exists. The positive term is
//   mean-logit: ℓ0_a = (u_a·S − u_a·u_a)/((J−1)t), S = Σ_b u_b: O(J·C), no J × J block;
//   mean-exp:   ℓ0_a = LSE_{b≠a}(u_a·u_b/t) − ln(J−1), from the symmetric query block on upper
//               half-strips, twice: first each row's LSE (running maxima and sums for the strip's
//               rows and for its columns, merged), then — once the negatives have given
//               ∂loss/∂ℓ0 — the weights of both a pair's rows at once, added as H·U and Hᵀ·U:
//               2·J²·C multiply-adds in all, instead of 3·J²·C for full strips.

import { alloc } from './memory';
import { expNonPositive, hmax, hsum, logv, mergeRunningLse } from './simd_math';
import {
  accumulateWeighted,
  accumulateWeightedTransposed,
  groupRow,
  groupsOf,
  lanesIn,
  roundUp8,
  similarityStrip,
  stripStride,
} from './similarity';
import { POSITIVE_MEAN_EXP, STRIP_ROWS } from '../src/codes';
import { normalizeRows, normalizeRowsBackward } from './normalize';
import { gatherPixelRows, scatterPixelRows } from './pooling';

// Stands for −∞ in a strip: exp(NEG − m) is 0 and it never wins a maximum.
const NEG: f32 = -3.0e38;

/**
 * Bytes of the per-image buffers besides the features, for j queries and m negatives of c
 * channels (before the arena's per-buffer rounding), in the largest stage: U, X, their packed
 * forms (two matrices each), dU and dX (rows × C_p float32), norms (8 per row), the strips of negative
 * logits (and, for mean-exp, of query logits), ℓ0, its LSE and ∂loss/∂ℓ0 (12 per query row),
 * mean-exp's running maxima and sums (the part's and the strip's columns', 16 per query row, and
 * the strip's rows'), S and T (a row each). The wrappers' memory estimates read it, so the formula
 * lives beside the allocations.
 */
export function infoNCEKernelBytes(j: i32, m: i32, c: i32, positive: i32): f64 {
  const meanExp = positive == POSITIVE_MEAN_EXP;
  const jp = <f64>roundUp8(j),
    mp = <f64>roundUp8(m),
    row = <f64>roundUp8(c) * 4;
  const strips = <f64>STRIP_ROWS * 4 * (mp + 8 + (meanExp ? jp + 8 : 0));
  const running = meanExp ? 16 * jp + 8 * <f64>STRIP_ROWS : 0;
  return (4 * jp + 4 * mp) * row + 8 * (jp + mp) + strips + 12 * jp + running + 2 * row;
}

/** What the strips share, placed in the arena by infoNCEAttach. */
@unmanaged
class NceState {
  j: i32 = 0;
  m: i32 = 0;
  jp: i32 = 0;
  mp: i32 = 0;
  cp: i32 = 0;
  meanExp: bool = false;
  invT: f32 = 0;
  u: usize = 0;
  packedU: usize = 0;
  packedX: usize = 0;
  strip: usize = 0;
  stripQ: usize = 0;
  colMax: usize = 0;
  colSum: usize = 0;
  rowMax: usize = 0;
  rowSum: usize = 0;
  l0: usize = 0;
  du: usize = 0;
  dx: usize = 0;
  dl0: usize = 0;
}

/**
 * Stage 1 of one used image (J ≥ 2, M ≥ 1): gathers the queries and negatives (int32 pixel
 * indices into the H·W plane) into row matrices U (J_p × C_p) and X (M_p × C_p), zero padded, and
 * L2-normalizes them; their norms (float64 per row) go to `normsU` and `normsX`.
 */
export function infoNCEGather(
  features: usize,
  c: i32,
  hw: i32,
  queries: usize,
  j: i32,
  negatives: usize,
  m: i32,
  u: usize,
  x: usize,
  normsU: usize,
  normsX: usize,
): void {
  const rowBytes = (<usize>roundUp8(c)) << 2;
  memory.fill(u, 0, <usize>roundUp8(j) * rowBytes);
  memory.fill(x, 0, <usize>roundUp8(m) * rowBytes);
  infoNCEGatherChannels(features, 0, c, c, hw, queries, j, negatives, m, u, x);
  infoNCENormalize(u, j, x, m, c, normsU, normsX);
}

/**
 * infoNCEGather in steps, for features that arrive a few channels at a time: channels [c0, c0 +
 * count) of C, `features` holding just them (count × H·W), gathered into their columns of U and X
 * (zeroed by the caller); then the rows normalized. The same bits as infoNCEGather.
 */
export function infoNCEGatherChannels(
  features: usize,
  c0: i32,
  count: i32,
  c: i32,
  hw: i32,
  queries: usize,
  j: i32,
  negatives: usize,
  m: i32,
  u: usize,
  x: usize,
): void {
  const column = (<usize>c0) << 2;
  gatherPixelRows(features, count, hw, queries, j, roundUp8(c), u + column);
  gatherPixelRows(features, count, hw, negatives, m, roundUp8(c), x + column);
}

export function infoNCENormalize(u: usize, j: i32, x: usize, m: i32, c: i32, normsU: usize, normsX: usize): void {
  normalizeRows(u, roundUp8(j), roundUp8(c), u, normsU);
  normalizeRows(x, roundUp8(m), roundUp8(c), x, normsX);
}

/**
 * mean-logit's positive terms, before the strips: S = Σ_b u_b (C_p float32) to `sumU`, ℓ0_a (J
 * float32) to `l0` and π_a to `perQueryPositive`.
 */
export function infoNCEMeanLogit(
  u: usize,
  j: i32,
  c: i32,
  temperature: f64,
  sumU: usize,
  l0: usize,
  perQueryPositive: usize,
): void {
  meanLogitPositives(u, j, roundUp8(c), <f32>(1.0 / temperature), sumU, l0, perQueryPositive);
}

/**
 * The state of the strips over U (j queries, a row matrix and packed) and X (m negatives, packed:
 * similarity.ts packOperand) of c channels. The caller owns
 * `l0` (J_p float32: mean-logit's ℓ0, or where mean-exp's strips write theirs), `dl0` (J_p, zeros)
 * and, with a gradient, dU and dX (rows × C_p, zeros; else 0). infoNCEStrips then runs over strips
 * of STRIP_ROWS query rows (`infoNCEStripCount` of them) in any consecutive ranges, each range
 * anywhere (docs/design.md §9); infoNCEBackward finishes the gradient.
 */
export function infoNCEAttach(
  u: usize,
  packedU: usize,
  j: i32,
  packedX: usize,
  m: i32,
  c: i32,
  temperature: f64,
  positive: i32,
  l0: usize,
  dl0: usize,
  du: usize,
  dx: usize,
): usize {
  const st = changetype<NceState>(alloc(offsetof<NceState>()));
  const jp = roundUp8(j),
    mp = roundUp8(m),
    cp = roundUp8(c);
  st.j = j;
  st.m = m;
  st.jp = jp;
  st.mp = mp;
  st.cp = cp;
  st.u = u;
  st.invT = <f32>(1.0 / temperature);
  const meanExp = positive == POSITIVE_MEAN_EXP;
  st.meanExp = meanExp;
  st.strip = alloc(<usize>STRIP_ROWS * <usize>stripStride(mp) * 4);
  // mean-exp: the query–query strip of the current rows, and its columns' and rows' maxima and sums.
  st.stripQ = meanExp ? alloc(<usize>STRIP_ROWS * <usize>stripStride(jp) * 4) : 0;
  st.colMax = meanExp ? alloc((<usize>jp) << 2) : 0;
  st.colSum = meanExp ? alloc((<usize>jp) << 2) : 0;
  st.rowMax = meanExp ? alloc(STRIP_ROWS << 2) : 0;
  st.rowSum = meanExp ? alloc(STRIP_ROWS << 2) : 0;
  st.packedU = packedU;
  st.packedX = packedX;
  st.l0 = l0;
  st.dl0 = dl0;
  st.du = du;
  st.dx = dx;
  return changetype<usize>(st);
}

/** Strips of STRIP_ROWS query rows of an image with j queries. */
export function infoNCEStripCount(j: i32): i32 {
  return (roundUp8(j) + STRIP_ROWS - 1) / STRIP_ROWS;
}

/**
 * Query strips [s0, s1) against the negatives, with every row's ℓ0 in place (mean-logit: from
 * infoNCEMeanLogit; mean-exp: LSE − ln(J−1) from infoNCEQueryLse's merged maxima and sums):
 * loss_a (float32, to `perQuery`), ∂loss_a/∂ℓ0_a · gradScale (to dl0) and, when `grad` ≠ 0, the
 * gradient weights accumulated into dU (the strip's rows) and dX (every row). `gradScale`
 * multiplies ∂(Σ_a loss_a): the caller passes 1/(J·used images). A range writes dX beyond its own
 * rows: ranges run elsewhere add into their own zeroed dU and dX, summed in range order.
 */
export function infoNCEStrips(state: usize, s0: i32, s1: i32, gradScale: f32, perQuery: usize, grad: i32): void {
  const st = changetype<NceState>(state);
  const j = st.j,
    m = st.m,
    jp = st.jp,
    mp = st.mp,
    cp = st.cp,
    invT = st.invT;
  const rowBytes = (<usize>cp) << 2;
  const strip = st.strip,
    u = st.u,
    du = st.du;
  const weightScale = gradScale * invT,
    stride = stripStride(mp);
  for (let a0 = s0 * STRIP_ROWS; a0 < min(jp, s1 * STRIP_ROWS); a0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, jp - a0);
    const ua = u + <usize>a0 * rowBytes;
    similarityStrip(ua, rows, st.packedX, mp >> 3, cp, invT, strip, stride);
    for (let r = 0; r < rows; r++) {
      const a = a0 + r;
      const row = strip + <usize>r * <usize>stride * 4;
      if (a >= j) {
        memory.fill(row, 0, (<usize>mp) << 2);
        continue;
      }
      const lossA = negativeRow(
        row,
        m,
        mp,
        load<f32>(st.l0 + ((<usize>a) << 2)),
        weightScale,
        gradScale,
        st.dl0 + ((<usize>a) << 2),
      );
      store<f32>(perQuery + ((<usize>a) << 2), lossA);
    }
    if (grad != 0) {
      accumulateWeighted(strip, rows, mp, stride, groupsOf(st.packedX, mp, cp), mp, cp, du + <usize>a0 * rowBytes);
      accumulateWeightedTransposed(strip, rows, mp, stride, groupRow(st.packedU, jp, cp, a0), jp, cp, st.dx);
    }
  }
}

/**
 * mean-exp, upper half-strips [s0, s1) of the query block (columns from the strip's first row
 * on): for every pair a < b, the running maximum and sum of exp(s_ab − max) of row a (over its b)
 * and of row b (over its a), merged into `lseMax` and `lseSum` (J_p float32 each: −3e38 and 0
 * before the first range; a range merges into its own, merged in range order by the caller:
 * LSE_a = max + ln(sum)).
 */
export function infoNCEQueryLse(state: usize, s0: i32, s1: i32, lseMax: usize, lseSum: usize): void {
  const st = changetype<NceState>(state);
  const j = st.j,
    jp = st.jp,
    cp = st.cp;
  const rowBytes = (<usize>cp) << 2;
  const stripQ = st.stripQ,
    colMax = st.colMax,
    colSum = st.colSum,
    rowMax = st.rowMax,
    rowSum = st.rowSum;
  for (let a0 = s0 * STRIP_ROWS; a0 < min(jp, s1 * STRIP_ROWS); a0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, jp - a0),
      width = jp - a0,
      stride = stripStride(width);
    similarityStrip(
      st.u + <usize>a0 * rowBytes,
      rows,
      st.packedU + <usize>a0 * rowBytes,
      width >> 3,
      cp,
      st.invT,
      stripQ,
      stride,
    );
    // Columns: the maximum over the strip's rows above each column's own row, then the sum; rows:
    // each row's over its columns. Empty pairs (−3e38, 0) to start.
    for (let jl = 0; jl < width; jl += 4) v128.store(colMax + ((<usize>jl) << 2), f32x4.splat(NEG));
    memory.fill(colSum, 0, (<usize>width) << 2);
    for (let r = 0; r < STRIP_ROWS; r += 4) v128.store(rowMax + ((<usize>r) << 2), f32x4.splat(NEG));
    memory.fill(rowSum, 0, STRIP_ROWS << 2);
    for (let r = 0; r < rows && a0 + r < j; r++) {
      const row = stripQ + <usize>r * <usize>stride * 4;
      let mx = f32x4.splat(NEG);
      for (let jl = (r + 1) & ~3; jl < width; jl += 4) {
        const o = (<usize>jl) << 2;
        const v = v128.bitselect(v128.load(row + o), f32x4.splat(NEG), lanesIn(a0 + jl, a0 + r + 1, j));
        mx = f32x4.pmax(mx, v);
        v128.store(colMax + o, f32x4.pmax(v128.load(colMax + o), v));
      }
      // The row's own maximum and sum, kept for its running pair.
      const top = hmax(mx);
      if (top == NEG) continue;
      const tv = f32x4.splat(top);
      let se = f32x4.splat(0);
      for (let jl = (r + 1) & ~3; jl < width; jl += 4) {
        const o = (<usize>jl) << 2;
        se = f32x4.add(
          se,
          v128.and(expNonPositive(f32x4.sub(v128.load(row + o), tv)), lanesIn(a0 + jl, a0 + r + 1, j)),
        );
      }
      store<f32>(rowMax + ((<usize>r) << 2), top);
      store<f32>(rowSum + ((<usize>r) << 2), hsum(se));
    }
    for (let r = 0; r < rows && a0 + r < j; r++) {
      const row = stripQ + <usize>r * <usize>stride * 4;
      for (let jl = (r + 1) & ~3; jl < width; jl += 4) {
        const o = (<usize>jl) << 2;
        const e = expNonPositive(f32x4.sub(v128.load(row + o), v128.load(colMax + o)));
        v128.store(colSum + o, f32x4.add(v128.load(colSum + o), v128.and(e, lanesIn(a0 + jl, a0 + r + 1, j))));
      }
    }
    // Each row's pair takes its row side, then its column side (a row without pairs in the strip
    // has the empty pair, which changes nothing).
    const at = (<usize>a0) << 2;
    for (let r: usize = 0; r < (<usize>rows) << 2; r += 16)
      mergeRunningLse(lseMax + at + r, lseSum + at + r, v128.load(rowMax + r), v128.load(rowSum + r));
    for (let o: usize = 0; o < (<usize>width) << 2; o += 16)
      mergeRunningLse(lseMax + at + o, lseSum + at + o, v128.load(colMax + o), v128.load(colSum + o));
  }
}

/**
 * mean-exp, upper half-strips [s0, s1) of the query block, with every row's LSE_a (`lse`) and
 * dl0_a (after the negatives): H_ab = (dl0_a·exp(s_ab − LSE_a) + dl0_b·exp(s_ab − LSE_b))/t for
 * a < b, the softmax weights of both rows, added as H·U to the strip's rows and Hᵀ·U_strip to the
 * columns' rows of dU (a range adds into its own zeroed dU, summed in range order).
 */
export function infoNCEQueryGrad(state: usize, s0: i32, s1: i32, lse: usize): void {
  const st = changetype<NceState>(state);
  const j = st.j,
    jp = st.jp,
    cp = st.cp;
  const rowBytes = (<usize>cp) << 2;
  const stripQ = st.stripQ,
    invT = f32x4.splat(st.invT);
  for (let a0 = s0 * STRIP_ROWS; a0 < min(jp, s1 * STRIP_ROWS); a0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, jp - a0),
      width = jp - a0,
      stride = stripStride(width);
    const ua = st.u + <usize>a0 * rowBytes;
    similarityStrip(ua, rows, st.packedU + <usize>a0 * rowBytes, width >> 3, cp, st.invT, stripQ, stride);
    for (let r = 0; r < rows; r++) {
      const a = a0 + r;
      const row = stripQ + <usize>r * <usize>stride * 4;
      if (a >= j) {
        memory.fill(row, 0, (<usize>width) << 2);
        continue;
      }
      const lseA = f32x4.splat(load<f32>(lse + ((<usize>a) << 2))),
        wA = f32x4.splat(load<f32>(st.dl0 + ((<usize>a) << 2)));
      const first = (r + 1) & ~3;
      memory.fill(row, 0, (<usize>first) << 2);
      for (let jl = first; jl < width; jl += 4) {
        const o = (<usize>jl) << 2,
          b = (<usize>(a0 + jl)) << 2;
        const sv = v128.load(row + o);
        const h = f32x4.add(
          f32x4.mul(wA, expNonPositive(f32x4.sub(sv, lseA))),
          f32x4.mul(v128.load(st.dl0 + b), expNonPositive(f32x4.sub(sv, v128.load(lse + b)))),
        );
        v128.store(row + o, v128.and(f32x4.mul(h, invT), lanesIn(a0 + jl, a + 1, j)));
      }
    }
    const ga = groupRow(st.packedU, jp, cp, a0);
    accumulateWeighted(stripQ, rows, width, stride, ga, jp, cp, st.du + <usize>a0 * rowBytes);
    accumulateWeightedTransposed(stripQ, rows, width, stride, ga, jp, cp, st.du + <usize>a0 * rowBytes);
  }
}

/**
 * Last stage, with dU and dX complete and every row's dl0: the gradient on the query and negative
 * pixels, added into `grad` (C × H·W, zeroed by the caller). dU and dX are overwritten.
 */
export function infoNCEBackward(
  u: usize,
  du: usize,
  x: usize,
  dx: usize,
  j: i32,
  m: i32,
  c: i32,
  hw: i32,
  queries: usize,
  negatives: usize,
  normsU: usize,
  normsX: usize,
  positive: i32,
  temperature: f64,
  sumU: usize,
  dl0: usize,
  grad: usize,
): void {
  infoNCEBackwardRows(u, du, x, dx, j, m, c, normsU, normsX, positive, temperature, sumU, dl0);
  infoNCEScatterChannels(du, dx, 0, c, c, hw, queries, j, negatives, m, grad);
}

/**
 * infoNCEBackward in steps, for a gradient taken a few channels at a time: dU and dX through the
 * positive term and the normalization (in place) first; then channels [c0, c0 + count) of the
 * gradient to `grad`, which holds just them (count × H·W; zeroed here, then the queries' and
 * negatives' pixels written). The same bits as infoNCEBackward.
 */
export function infoNCEBackwardRows(
  u: usize,
  du: usize,
  x: usize,
  dx: usize,
  j: i32,
  m: i32,
  c: i32,
  normsU: usize,
  normsX: usize,
  positive: i32,
  temperature: f64,
  sumU: usize,
  dl0: usize,
): void {
  const cp = roundUp8(c);
  if (positive != POSITIVE_MEAN_EXP) meanLogitBackward(u, j, cp, <f32>(1.0 / temperature), sumU, dl0, du);
  normalizeRowsBackward(u, du, roundUp8(j), cp, normsU, du);
  normalizeRowsBackward(x, dx, roundUp8(m), cp, normsX, dx);
}

export function infoNCEScatterChannels(
  du: usize,
  dx: usize,
  c0: i32,
  count: i32,
  c: i32,
  hw: i32,
  queries: usize,
  j: i32,
  negatives: usize,
  m: i32,
  grad: usize,
): void {
  const cp = roundUp8(c),
    column = (<usize>c0) << 2;
  memory.fill(grad, 0, <usize>count * <usize>hw * 4);
  scatterPixelRows(du + column, j, cp, queries, count, hw, grad);
  scatterPixelRows(dx + column, m, cp, negatives, count, hw, grad);
}

/**
 * One query row of negative logits (M real columns of `mp`): returns loss_a = LSE(ℓ0, negs) − ℓ0
 * and replaces the row by p_k · weightScale (p the softmax over [ℓ0, negs]); writes
 * (p0 − 1) · gradScale to `dl0Out`.
 */
function negativeRow(row: usize, m: i32, mp: i32, l0: f32, weightScale: f32, gradScale: f32, dl0Out: usize): f32 {
  for (let k = m; k < mp; k++) store<f32>(row + ((<usize>k) << 2), NEG);
  let mx = f32x4.splat(l0);
  for (let k = 0; k < mp; k += 4) mx = f32x4.pmax(mx, v128.load(row + ((<usize>k) << 2)));
  const top = hmax(mx),
    topv = f32x4.splat(top);
  let se = f32x4.splat(0);
  for (let k = 0; k < mp; k += 4) {
    const o = (<usize>k) << 2;
    const e = expNonPositive(f32x4.sub(v128.load(row + o), topv));
    se = f32x4.add(se, e);
    v128.store(row + o, e);
  }
  const e0 = f32x4.extract_lane(expNonPositive(f32x4.splat(l0 - top)), 0);
  const negatives = hsum(se),
    s = negatives + e0;
  const scale = f32x4.splat(weightScale / s);
  for (let k = 0; k < mp; k += 4) {
    const o = (<usize>k) << 2;
    v128.store(row + o, f32x4.mul(v128.load(row + o), scale));
  }
  // p0 − 1 = −(Σ_k e_k)/s: written without the subtraction, which loses every digit when p0 ≈ 1.
  store<f32>(dl0Out, -(negatives / s) * gradScale);
  return top - l0 + f32x4.extract_lane(logv(f32x4.splat(s)), 0);
}

/** mean-logit: S = Σ_b u_b, π_a = (u_a·S − u_a·u_a)/(J−1), ℓ0_a = π_a/t (dots in float64). */
function meanLogitPositives(u: usize, j: i32, cp: i32, invT: f32, sumU: usize, l0: usize, positiveOut: usize): void {
  const rowBytes = (<usize>cp) << 2;
  for (let k = 0; k < cp; k++) {
    let s: f64 = 0;
    for (let a = 0; a < j; a++) s += <f64>load<f32>(u + <usize>a * rowBytes + ((<usize>k) << 2));
    store<f32>(sumU + ((<usize>k) << 2), <f32>s);
  }
  for (let a = 0; a < j; a++) {
    const ua = u + <usize>a * rowBytes;
    let dotS: f64 = 0,
      self: f64 = 0;
    for (let k: usize = 0; k < rowBytes; k += 4) {
      const v = <f64>load<f32>(ua + k);
      dotS += v * <f64>load<f32>(sumU + k);
      self += v * v;
    }
    const pi = (dotS - self) / <f64>(j - 1);
    store<f32>(positiveOut + ((<usize>a) << 2), <f32>pi);
    store<f32>(l0 + ((<usize>a) << 2), <f32>(pi * <f64>invT));
  }
}

/**
 * Backward of the mean-logit positive term, with w_a = ∂loss/∂ℓ0_a · gradScale:
 *   du_c += (1/((J−1)t)) · (w_c (S − u_c) + (T − w_c u_c)),  T = Σ_a w_a u_a.
 */
function meanLogitBackward(u: usize, j: i32, cp: i32, invT: f32, sumU: usize, dl0: usize, du: usize): void {
  const rowBytes = (<usize>cp) << 2;
  const t = alloc(rowBytes);
  memory.fill(t, 0, rowBytes);
  for (let a = 0; a < j; a++) {
    const wa = f32x4.splat(load<f32>(dl0 + ((<usize>a) << 2)));
    const ua = u + <usize>a * rowBytes;
    for (let k: usize = 0; k < rowBytes; k += 16)
      v128.store(t + k, f32x4.add(v128.load(t + k), f32x4.mul(wa, v128.load(ua + k))));
  }
  const f = f32x4.splat(invT / <f32>(j - 1));
  for (let a = 0; a < j; a++) {
    const wa = f32x4.splat(load<f32>(dl0 + ((<usize>a) << 2)));
    const ua = u + <usize>a * rowBytes,
      da = du + <usize>a * rowBytes;
    for (let k: usize = 0; k < rowBytes; k += 16) {
      const uk = v128.load(ua + k);
      const g = f32x4.add(
        f32x4.mul(wa, f32x4.sub(v128.load(sumU + k), uk)),
        f32x4.sub(v128.load(t + k), f32x4.mul(wa, uk)),
      );
      v128.store(da + k, f32x4.add(v128.load(da + k), f32x4.mul(g, f)));
    }
  }
}
