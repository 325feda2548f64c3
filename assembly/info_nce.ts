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
import { accumulateWeighted, accumulateWeightedTransposed, roundUp8, STRIP_ROWS, similarityStrip } from './similarity';
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
  logJm1: f32 = 0;
  u: usize = 0;
  x: usize = 0;
  panelsU: usize = 0;
  panelsX: usize = 0;
  strip: usize = 0;
  stripQ: usize = 0;
  l0: usize = 0;
  lseQ: usize = 0;
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
  const jp = roundUp8(j),
    mp = roundUp8(m),
    rowBytes = (<usize>roundUp8(c)) << 2;
  memory.fill(u, 0, <usize>jp * rowBytes);
  memory.fill(x, 0, <usize>mp * rowBytes);
  gatherPixelRows(features, c, hw, queries, j, roundUp8(c), u);
  gatherPixelRows(features, c, hw, negatives, m, roundUp8(c), x);
  normalizeRows(u, jp, roundUp8(c), u, normsU);
  normalizeRows(x, mp, roundUp8(c), x, normsX);
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
 * The state of the strips over U (j queries) and X (m negatives) of c channels, and their panels
 * (packPanels; U's only for mean-exp, else 0). The caller owns
 * `l0` (J_p float32: mean-logit's ℓ0, or where mean-exp's strips write theirs), `dl0` (J_p, zeros)
 * and, with a gradient, dU and dX (rows × C_p, zeros; else 0). infoNCEStrips then runs over strips
 * of STRIP_ROWS query rows (`infoNCEStripCount` of them) in any consecutive ranges, each range
 * anywhere (docs/design.md §9); infoNCEBackward finishes the gradient.
 */
export function infoNCEAttach(
  u: usize,
  panelsU: usize,
  j: i32,
  x: usize,
  panelsX: usize,
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
  st.x = x;
  st.invT = <f32>(1.0 / temperature);
  const meanExp = positive == POSITIVE_MEAN_EXP;
  st.meanExp = meanExp;
  st.strip = alloc(<usize>STRIP_ROWS * <usize>mp * 4);
  // mean-exp: the query–query strip of the current rows, and per row the LSE over the others.
  st.stripQ = meanExp ? alloc(<usize>STRIP_ROWS * <usize>jp * 4) : 0;
  st.lseQ = meanExp ? alloc((<usize>jp) << 2) : 0;
  st.panelsU = panelsU;
  st.panelsX = panelsX;
  st.l0 = l0;
  st.dl0 = dl0;
  st.du = du;
  st.dx = dx;
  st.logJm1 = <f32>Math.log(<f64>(j - 1));
  return changetype<usize>(st);
}

/** Strips of STRIP_ROWS query rows of an image with j queries. */
export function infoNCEStripCount(j: i32): i32 {
  return (roundUp8(j) + STRIP_ROWS - 1) / STRIP_ROWS;
}

/**
 * Query strips [s0, s1): loss_a (float32, to `perQuery`), ∂loss_a/∂ℓ0_a · gradScale (to dl0) and,
 * when `grad` ≠ 0, the gradient weights accumulated into dU and dX. `gradScale` multiplies
 * ∂(Σ_a loss_a): the caller passes 1/(J·used images). A range writes dX (and, for mean-exp, dU)
 * beyond its own rows: ranges run elsewhere add into their own zeroed dU and dX, summed in range
 * order.
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
  const cp = roundUp8(c);
  if (positive != POSITIVE_MEAN_EXP) meanLogitBackward(u, j, cp, <f32>(1.0 / temperature), sumU, dl0, du);
  normalizeRowsBackward(u, du, roundUp8(j), cp, normsU, du);
  normalizeRowsBackward(x, dx, roundUp8(m), cp, normsX, dx);
  scatterPixelRows(du, j, cp, queries, c, hw, grad);
  scatterPixelRows(dx, m, cp, negatives, c, hw, grad);
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
