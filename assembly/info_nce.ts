// FOCAL InfoNCE++ of one image (docs/spec.md §5), value and gradient.
//
// Queries U (J pristine pixels) and negatives X (M forged pixels) are gathered into row matrices
// and L2-normalized. The J × M block of logits u·x/t is produced one strip of query rows at a time
// and consumed at once (row log-sum-exp together with the positive logit ℓ0, then the gradient
// weights in place), so no J × M matrix exists. The positive term is
//   mean-logit: ℓ0_a = (u_a·S − u_a·u_a)/((J−1)t), S = Σ_b u_b: O(J·C), no J × J block;
//   mean-exp:   ℓ0_a = LSE_{b≠a}(u_a·u_b/t) − ln(J−1): each strip of queries also produces its
//               J-wide strip of query–query logits, keeps it for the backward of ℓ0 once the
//               negatives have given ∂loss/∂ℓ0, and reuses it (one J × J product, not two).

import { alloc } from './memory';
import { expv, hmax, hsum, logv } from './simd_math';
import {
  accumulateWeighted,
  accumulateWeightedTransposed,
  packPanels,
  roundUp8,
  STRIP_ROWS,
  similarityStrip,
} from './similarity';
import { normalizeRows, normalizeRowsBackward } from './normalize';
import { gatherPixelRows, scatterPixelRows } from './pooling';

export const POSITIVE_MEAN_LOGIT: i32 = 0;
export const POSITIVE_MEAN_EXP: i32 = 1;

// Stands for −∞ in a strip: exp(NEG − m) is 0 and it never wins a maximum.
const NEG: f32 = -3.0e38;

/**
 * Bytes that infoNCEImage allocates for j queries and m negatives of c channels (before the
 * arena's per-buffer rounding): U, X, their panels (mean-exp packs U too), dU and dX (rows × C_p
 * float32), norms (8 per row), the strips of negative logits (and, for mean-exp, of query logits),
 * ℓ0, its LSE and ∂loss/∂ℓ0 (12 per query row), S and T (a row each). The wrappers' memory
 * estimates read it, so the formula lives beside the allocations.
 */
export function infoNCEKernelBytes(j: i32, m: i32, c: i32, positive: i32): f64 {
  const meanExp = positive == POSITIVE_MEAN_EXP;
  const jp = <f64>roundUp8(j),
    mp = <f64>roundUp8(m),
    row = <f64>roundUp8(c) * 4;
  const strips = <f64>STRIP_ROWS * 4 * (mp + (meanExp ? jp : 0));
  return ((meanExp ? 3 : 2) * jp + 3 * mp) * row + 8 * (jp + mp) + strips + 12 * jp + 2 * row;
}

/** What the stages of one image share, placed in the arena by infoNCEBegin. */
@unmanaged
class NceState {
  j: i32 = 0;
  m: i32 = 0;
  jp: i32 = 0;
  mp: i32 = 0;
  cp: i32 = 0;
  c: i32 = 0;
  hw: i32 = 0;
  meanExp: bool = false;
  invT: f32 = 0;
  logJm1: f32 = 0;
  total: f64 = 0;
  queries: usize = 0;
  negatives: usize = 0;
  u: usize = 0;
  x: usize = 0;
  normsU: usize = 0;
  normsX: usize = 0;
  panelsU: usize = 0;
  panelsX: usize = 0;
  strip: usize = 0;
  stripQ: usize = 0;
  l0: usize = 0;
  lseQ: usize = 0;
  sumU: usize = 0;
  du: usize = 0;
  dx: usize = 0;
  dl0: usize = 0;
}

/**
 * Stage 1 of one used image (J ≥ 2, M ≥ 1): gathers and normalizes the queries and negatives and
 * packs their panels; for mean-logit also the positive terms. `queries` (J) and `negatives` (M)
 * are int32 pixel indices into the H·W plane; they must stay in place until infoNCEEnd. Writes the
 * positive term of each query (π_a for mean-logit, ln A_a for mean-exp, the latter during the
 * strips) to `perQueryPositive`. Returns the state for infoNCEStrips, which runs over strips of
 * STRIP_ROWS query rows (`infoNCEStripCount` of them) in any number of calls over consecutive
 * ranges, and infoNCEEnd. Every temporary lives in the arena.
 */
export function infoNCEBegin(
  features: usize,
  c: i32,
  hw: i32,
  queries: usize,
  j: i32,
  negatives: usize,
  m: i32,
  temperature: f64,
  positive: i32,
  perQueryPositive: usize,
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
  st.c = c;
  st.hw = hw;
  st.queries = queries;
  st.negatives = negatives;
  st.total = 0;
  const rowBytes = (<usize>cp) << 2;
  const u = alloc(<usize>jp * rowBytes),
    x = alloc(<usize>mp * rowBytes);
  memory.fill(u, 0, <usize>jp * rowBytes);
  memory.fill(x, 0, <usize>mp * rowBytes);
  gatherPixelRows(features, c, hw, queries, j, cp, u);
  gatherPixelRows(features, c, hw, negatives, m, cp, x);
  st.normsU = alloc((<usize>jp) << 3);
  st.normsX = alloc((<usize>mp) << 3);
  normalizeRows(u, jp, cp, u, st.normsU);
  normalizeRows(x, mp, cp, x, st.normsX);
  st.u = u;
  st.x = x;
  const invT = <f32>(1.0 / temperature);
  st.invT = invT;
  const meanExp = positive == POSITIVE_MEAN_EXP;
  st.meanExp = meanExp;
  st.strip = alloc(<usize>STRIP_ROWS * <usize>mp * 4);
  // mean-exp: the query–query strip of the current rows, and per row the LSE over the others.
  st.stripQ = meanExp ? alloc(<usize>STRIP_ROWS * <usize>jp * 4) : 0;
  st.l0 = alloc((<usize>jp) << 2);
  st.lseQ = alloc((<usize>jp) << 2);
  st.sumU = alloc(rowBytes);
  st.panelsU = 0;
  if (meanExp) {
    st.panelsU = alloc(<usize>jp * rowBytes);
    packPanels(u, jp, cp, st.panelsU);
  } else {
    meanLogitPositives(u, j, cp, invT, st.sumU, st.l0, perQueryPositive);
  }
  st.panelsX = alloc(<usize>mp * rowBytes);
  packPanels(x, mp, cp, st.panelsX);
  st.du = alloc(<usize>jp * rowBytes);
  st.dx = alloc(<usize>mp * rowBytes);
  memory.fill(st.du, 0, <usize>jp * rowBytes);
  memory.fill(st.dx, 0, <usize>mp * rowBytes);
  // ∂loss_a/∂ℓ0_a · gradScale, kept for the positive term's gradient.
  st.dl0 = alloc((<usize>jp) << 2);
  memory.fill(st.dl0, 0, (<usize>jp) << 2);
  st.logJm1 = <f32>Math.log(<f64>(j - 1));
  return changetype<usize>(st);
}

/** Strips of STRIP_ROWS query rows of an image with j queries. */
export function infoNCEStripCount(j: i32): i32 {
  return (roundUp8(j) + STRIP_ROWS - 1) / STRIP_ROWS;
}

/**
 * Query strips [s0, s1): loss_a (to `perQuery`, added to the state's total in row order) and,
 * when `grad` ≠ 0, the gradient weights accumulated into dU and dX. `gradScale` multiplies
 * ∂(Σ_a loss_a): the caller passes 1/(J·used images).
 */
export function infoNCEStrips(
  state: usize,
  s0: i32,
  s1: i32,
  gradScale: f32,
  perQuery: usize,
  perQueryPositive: usize,
  grad: i32,
): void {
  const st = changetype<NceState>(state);
  const j = st.j,
    m = st.m,
    jp = st.jp,
    mp = st.mp,
    cp = st.cp,
    invT = st.invT,
    meanExp = st.meanExp;
  const rowBytes = (<usize>cp) << 2;
  const strip = st.strip,
    stripQ = st.stripQ,
    u = st.u,
    du = st.du;
  const weightScale = gradScale * invT;
  let total = st.total;
  for (let a0 = s0 * STRIP_ROWS; a0 < min(jp, s1 * STRIP_ROWS); a0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, jp - a0);
    const ua = u + <usize>a0 * rowBytes;
    if (meanExp) {
      similarityStrip(ua, rows, st.panelsU, jp >> 3, cp, invT, stripQ, jp);
      for (let r = 0; r < rows && a0 + r < j; r++) {
        const a = a0 + r;
        const lse = queryRowLogSumExp(stripQ + <usize>r * <usize>jp * 4, a, j, jp);
        store<f32>(st.lseQ + ((<usize>a) << 2), lse);
        store<f32>(st.l0 + ((<usize>a) << 2), lse - st.logJm1);
        store<f32>(perQueryPositive + ((<usize>a) << 2), lse - st.logJm1);
      }
    }
    similarityStrip(ua, rows, st.panelsX, mp >> 3, cp, invT, strip, mp);
    for (let r = 0; r < rows; r++) {
      const a = a0 + r;
      const row = strip + <usize>r * <usize>mp * 4;
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
      total += <f64>lossA;
    }
    if (grad != 0) {
      accumulateWeighted(strip, rows, mp, mp, st.x, cp, du + <usize>a0 * rowBytes);
      accumulateWeightedTransposed(strip, rows, mp, mp, ua, cp, st.dx);
      if (meanExp) {
        // ∂ℓ0_a/∂s_ab = softmax_{b≠a}(s_ab): weights dl0_a · exp(s_ab − lseQ_a) / t on both rows.
        for (let r = 0; r < rows; r++) {
          const a = a0 + r;
          const row = stripQ + <usize>r * <usize>jp * 4;
          if (a >= j) {
            memory.fill(row, 0, (<usize>jp) << 2);
            continue;
          }
          const lv = f32x4.splat(load<f32>(st.lseQ + ((<usize>a) << 2)));
          const wv = f32x4.splat(load<f32>(st.dl0 + ((<usize>a) << 2)) * invT);
          for (let b = 0; b < jp; b += 4) {
            const o = (<usize>b) << 2;
            v128.store(row + o, f32x4.mul(expv(f32x4.sub(v128.load(row + o), lv)), wv));
          }
        }
        accumulateWeighted(stripQ, rows, jp, jp, u, cp, du + <usize>a0 * rowBytes);
        accumulateWeightedTransposed(stripQ, rows, jp, jp, ua, cp, du);
      }
    }
  }
  st.total = total;
}

/**
 * Last stage: returns the image's loss (1/J)·Σ_a loss_a; when `grad` ≠ 0 (C × H × W, pre-zeroed
 * by the caller, and the strips ran with a gradient) it receives the gradient on the query and
 * negative pixels.
 */
export function infoNCEEnd(state: usize, grad: usize): f64 {
  const st = changetype<NceState>(state);
  if (grad != 0) {
    if (!st.meanExp) meanLogitBackward(st.u, st.j, st.cp, st.invT, st.sumU, st.dl0, st.du);
    normalizeRowsBackward(st.u, st.du, st.jp, st.cp, st.normsU, st.du);
    normalizeRowsBackward(st.x, st.dx, st.mp, st.cp, st.normsX, st.dx);
    scatterPixelRows(st.du, st.j, st.cp, st.queries, st.c, st.hw, grad);
    scatterPixelRows(st.dx, st.m, st.cp, st.negatives, st.c, st.hw, grad);
  }
  return st.total / <f64>st.j;
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
    const e = expv(f32x4.sub(v128.load(row + o), topv));
    se = f32x4.add(se, e);
    v128.store(row + o, e);
  }
  const e0 = f32x4.extract_lane(expv(f32x4.splat(l0 - top)), 0);
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

/**
 * One row of query–query logits: masks the diagonal and the padding with NEG (so that they give
 * exp = 0 later) and returns LSE_{b≠a}(s_ab).
 */
function queryRowLogSumExp(row: usize, a: i32, j: i32, jp: i32): f32 {
  store<f32>(row + ((<usize>a) << 2), NEG);
  for (let b = j; b < jp; b++) store<f32>(row + ((<usize>b) << 2), NEG);
  let mx = f32x4.splat(NEG);
  for (let b = 0; b < jp; b += 4) mx = f32x4.pmax(mx, v128.load(row + ((<usize>b) << 2)));
  const top = hmax(mx),
    topv = f32x4.splat(top);
  let se = f32x4.splat(0);
  for (let b = 0; b < jp; b += 4) se = f32x4.add(se, expv(f32x4.sub(v128.load(row + ((<usize>b) << 2)), topv)));
  return top + f32x4.extract_lane(logv(f32x4.splat(hsum(se))), 0);
}
