// CFL-Net patch contrastive loss of one image (spec section 4), value and gradient.
//
// Features are average-pooled into N patch rows, sorted by class (pristine rows first, then
// forged), and L2-normalized (Z, N × Cp). Sorting makes every anchor's positives and negatives two
// contiguous column ranges, so the row passes below touch each range once with no per-lane class
// tests. The similarities S = Z·Zᵀ/t are produced one strip of STRIP_ROWS rows at a time and
// consumed at once: every quantity of the loss is row-local given a few per-column constants, so
// each strip is turned in place into the gradient weights G = ∂loss/∂S, then dZ += G·Z (rows of
// the strip) and dZ += Gᵀ·Z_strip (every row). No N × N matrix exists; memory is O(N·C).

import { alloc } from './memory';
import { normalizeRows, normalizeRowsBackward } from './normalize';
import { avgPoolRows, avgPoolRowsBackward, patchLabels } from './pooling';
import { expv, hmax, hsum, logv } from './simd_math';
import { accumulateWeighted, accumulateWeightedTransposed, packPanels, similarityStrip } from './similarity';

export const VARIANT_EXACT: i32 = 0;
export const VARIANT_CFLNET: i32 = 1;

const STRIP_ROWS = 32;
const EPS: f32 = 1e-18;
// Stands for −∞ in a strip: exp(NEG − m) is 0 and it never wins a maximum.
const NEG: f32 = -3.0e38;

// @ts-ignore: decorator
@inline function roundUp8(n: i32): i32 { return (n + 7) & ~7; }

/** Lanes j..j+3 that lie in [lo, hi) and are not `skip`, as an all-ones mask per lane. */
// @ts-ignore: decorator
@inline function lanesIn(j: i32, lo: i32, hi: i32, skip: i32): v128 {
  const ids = i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3));
  const inside = v128.and(i32x4.ge_s(ids, i32x4.splat(lo)), i32x4.lt_s(ids, i32x4.splat(hi)));
  return v128.andnot(inside, i32x4.eq(ids, i32x4.splat(skip)));
}

/** The column range of one class among the sorted rows: [lo, hi). */
@unmanaged class Range { lo: i32 = 0; hi: i32 = 0; }

/**
 * The loss of one image (C × H × W features, H × W float32 mask): returns (1/N)·Σ_i L_i and writes
 * L_i (N float32, patch order) to `perPatch`, the labels (N bytes) to `labelsOut`, and for cflnet
 * the column maxima c_j (N float32, patch order) to `columnMax` when it is ≠ 0. When `grad` ≠ 0 it
 * receives gradScale · ∂(Σ_i L_i)/∂features: the caller passes gradScale = 1/(N·B) for the batch
 * mean. `grad` may alias `features`. Every temporary lives in the arena.
 */
export function patchContrastImage(features: usize, mask: usize, c: i32, h: i32, w: i32, p: i32, temperature: f64, variant: i32, gradScale: f32, perPatch: usize, labelsOut: usize, columnMax: usize, grad: usize): f64 {
  const n = (h / p) * (w / p);
  const np = roundUp8(n), cp = roundUp8(c);
  const rowBytes = <usize>cp << 2, matBytes = <usize>np * rowBytes;
  patchLabels(mask, h, w, p, labelsOut);
  // rowOf[patch] = its sorted row; pristine patches keep their order, then forged ones.
  const rowOf = alloc(<usize>n << 2), patchOf = alloc(<usize>n << 2);
  let pristine = 0;
  for (let k = 0; k < n; k++) if (load<u8>(labelsOut + <usize>k) == 0) pristine++;
  let nextPristine = 0, nextForged = pristine;
  for (let k = 0; k < n; k++) {
    const row = load<u8>(labelsOut + <usize>k) == 0 ? nextPristine++ : nextForged++;
    store<i32>(rowOf + (<usize>k << 2), row);
    store<i32>(patchOf + (<usize>row << 2), k);
  }
  const z = alloc(matBytes);
  memory.fill(z, 0, matBytes);
  avgPoolRows(features, c, h, w, p, cp, rowOf, z);
  const norms = alloc(<usize>np << 3);
  normalizeRows(z, np, cp, z, norms);
  const panels = alloc(matBytes);
  packPanels(z, np, cp, panels);
  const strip = alloc(<usize>STRIP_ROWS * <usize>np * 4);
  const invT = <f32>(1.0 / temperature);
  const cmax = alloc(<usize>np << 2);
  if (variant == VARIANT_CFLNET) {
    columnMaxima(z, np, n, cp, panels, invT, strip, cmax);
    if (columnMax != 0) for (let k = 0; k < n; k++) store<f32>(columnMax + (<usize>k << 2), load<f32>(cmax + (<usize>load<i32>(rowOf + (<usize>k << 2)) << 2)));
  }
  const dz = alloc(matBytes);
  memory.fill(dz, 0, matBytes);
  // ∂s/∂z carries 1/t; it is folded into the weights before the two accumulations.
  const weightScale = gradScale * invT;
  const own = new Range(), other = new Range();
  let total: f64 = 0;
  for (let i0 = 0; i0 < np; i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0);
    similarityStrip(z + <usize>i0 * rowBytes, rows, panels, np >> 3, cp, invT, strip, np);
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const row = strip + <usize>r * <usize>np * 4;
      if (i >= n) {
        memory.fill(row, 0, <usize>np << 2);
        continue;
      }
      const forged = i >= pristine;
      own.lo = forged ? pristine : 0; own.hi = forged ? n : pristine;
      other.lo = forged ? 0 : pristine; other.hi = forged ? pristine : n;
      const li = variant == VARIANT_CFLNET ? cflnetRow(row, i, own, other, cmax, weightScale) : exactRow(row, i, own, other, weightScale);
      // The diagonal and the padding columns carry no weight.
      store<f32>(row + (<usize>i << 2), 0);
      for (let j = n; j < np; j++) store<f32>(row + (<usize>j << 2), 0);
      store<f32>(perPatch + (<usize>load<i32>(patchOf + (<usize>i << 2)) << 2), <f32>li);
      total += li;
    }
    if (grad != 0) {
      accumulateWeighted(strip, rows, np, np, z, cp, dz + <usize>i0 * rowBytes);
      accumulateWeightedTransposed(strip, rows, np, np, z + <usize>i0 * rowBytes, cp, dz);
    }
  }
  if (grad != 0) {
    normalizeRowsBackward(z, dz, np, cp, norms, dz);
    avgPoolRowsBackward(dz, c, h, w, p, cp, rowOf, grad);
  }
  return total / <f64>n;
}

/**
 * c_j = max(0, max_{i≠j} s_ij), the diagonal forced to 0. S is symmetric, so each strip computes
 * only its upper part (columns from its first row on): a pair i < j is seen once, in the strip of
 * row i, and updates both c_i (as a row maximum) and c_j (as a column maximum). Half the work of
 * full strips.
 */
function columnMaxima(z: usize, np: i32, n: i32, cp: i32, panels: usize, invT: f32, strip: usize, cmax: usize): void {
  const rowBytes = <usize>cp << 2;
  memory.fill(cmax, 0, <usize>np << 2);                 // every c_j starts at the diagonal's 0
  for (let i0 = 0; i0 < np; i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0), width = np - i0;
    similarityStrip(z + <usize>i0 * rowBytes, rows, panels + <usize>i0 * rowBytes, width >> 3, cp, invT, strip, width);
    for (let r = 0; r < rows; r++) {
      const row = strip + <usize>r * <usize>width * 4;
      store<f32>(row + (<usize>r << 2), 0);              // s'_ii = 0
      let m = f32x4.splat(0);
      for (let j = 0; j < width; j += 4) {
        const o = <usize>j << 2, v = v128.load(row + o);
        m = f32x4.pmax(m, v);
        const col = cmax + (<usize>i0 << 2) + o;
        v128.store(col, f32x4.pmax(v128.load(col), v));
      }
      const slot = cmax + (<usize>(i0 + r) << 2);
      store<f32>(slot, max(load<f32>(slot), hmax(m)));
    }
  }
  // Padding rows are zero vectors: their similarities are 0, which never raises a maximum ≥ 0.
  memory.fill(cmax + (<usize>n << 2), 0, <usize>(np - n) << 2);
}

/**
 * Exact variant, one anchor row: L_i = (1/|P|) Σ_p softplus(LSE_N − s_ip). Replaces the row of
 * similarities by its gradient weights ∂L_i/∂s_ij · scale:
 *   positives −σ(LSE_N − s_ip)/|P|,  negatives (Σ_p σ_p/|P|) · softmax_N(s_in).
 */
function exactRow(row: usize, i: i32, own: Range, other: Range, scale: f32): f64 {
  const positives = own.hi - own.lo - 1, negatives = other.hi - other.lo;
  if (positives == 0 || negatives == 0) {
    for (let j = own.lo; j < own.hi; j++) store<f32>(row + (<usize>j << 2), 0);
    for (let j = other.lo; j < other.hi; j++) store<f32>(row + (<usize>j << 2), 0);
    return 0;
  }
  // Pass 1: the maximum over the negatives.
  let m = f32x4.splat(NEG);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    const o = <usize>j << 2;
    m = f32x4.pmax(m, v128.bitselect(v128.load(row + o), f32x4.splat(NEG), lanesIn(j, other.lo, other.hi, -1)));
  }
  const top = hmax(m), mv = f32x4.splat(top);
  // Pass 2: Σ exp over the negatives; their lanes keep exp(s − m) for pass 4.
  let se = f32x4.splat(0);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    const o = <usize>j << 2;
    const inside = lanesIn(j, other.lo, other.hi, -1);
    const s = v128.load(row + o);
    const e = v128.and(expv(f32x4.sub(s, mv)), inside);
    se = f32x4.add(se, e);
    v128.store(row + o, v128.bitselect(e, s, inside));
  }
  const sumE = hsum(se);
  const lse = f32x4.splat(top + f32x4.extract_lane(logv(f32x4.splat(sumE)), 0));
  // Pass 3: the positives' softplus and sigmoid.
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  const posScale = f32x4.splat(-scale / <f32>positives);
  let lossAcc = f32x4.splat(0), sigAcc = f32x4.splat(0);
  for (let j = own.lo & ~3; j < own.hi; j += 4) {
    const o = <usize>j << 2;
    const inside = lanesIn(j, own.lo, own.hi, i);
    const s = v128.load(row + o);
    const x = f32x4.sub(lse, s);
    const e = expv(f32x4.neg(f32x4.abs(x)));                       // exp(−|x|) in (0, 1]
    const softplus = f32x4.add(f32x4.pmax(x, zero), logv(f32x4.add(one, e)));
    const inv = f32x4.div(one, f32x4.add(one, e));
    const sig = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(x, zero));
    lossAcc = f32x4.add(lossAcc, v128.and(softplus, inside));
    sigAcc = f32x4.add(sigAcc, v128.and(sig, inside));
    v128.store(row + o, v128.bitselect(f32x4.mul(sig, posScale), s, inside));
  }
  // Pass 4: the negatives' weights.
  const negScale = f32x4.splat(hsum(sigAcc) / <f32>positives / sumE * scale);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    const o = <usize>j << 2;
    const v = v128.load(row + o);
    v128.store(row + o, v128.bitselect(f32x4.mul(v, negScale), v, lanesIn(j, other.lo, other.hi, -1)));
  }
  return <f64>hsum(lossAcc) / <f64>positives;
}

/**
 * cflnet variant, one anchor row, with the column maxima c_j held constant:
 *   e_ij = exp(s_ij − c_j), D = Σ_N e_in, den = (e_ip + D) + ε, r = e_ip/den, λ = −ln(r + ε),
 *   L_i = (1/|P|) Σ_P λ_ip.
 * Gradient weights, written in forms whose factors stay ≤ 1 so that float32 never overflows:
 *   positives −((D + ε)/den) · (e/(e + ε·den)) / |P|,
 *   negatives e_in · (1/|P|) Σ_P (e/(e + ε·den)) / den.
 */
function cflnetRow(row: usize, i: i32, own: Range, other: Range, cmax: usize, scale: f32): f64 {
  const positives = own.hi - own.lo - 1;
  if (positives == 0) {
    for (let j = own.lo; j < own.hi; j++) store<f32>(row + (<usize>j << 2), 0);
    for (let j = other.lo; j < other.hi; j++) store<f32>(row + (<usize>j << 2), 0);
    return 0;
  }
  // Pass 1: e = exp(s − c) on the negatives, and D their sum.
  let dAcc = f32x4.splat(0);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    const o = <usize>j << 2;
    const inside = lanesIn(j, other.lo, other.hi, -1);
    const s = v128.load(row + o);
    const e = v128.and(expv(f32x4.sub(s, v128.load(cmax + o))), inside);
    dAcc = f32x4.add(dAcc, e);
    v128.store(row + o, v128.bitselect(e, s, inside));
  }
  const d = hsum(dAcc);
  const dv = f32x4.splat(d), eps = f32x4.splat(EPS), dEps = f32x4.splat(d + EPS);
  const posScale = f32x4.splat(-scale / <f32>positives);
  // Pass 2: the positives' λ and weights, and Σ_P (e/(e + ε·den))/den for the negatives.
  let lossAcc = f32x4.splat(0), dDAcc = f32x4.splat(0);
  for (let j = own.lo & ~3; j < own.hi; j += 4) {
    const o = <usize>j << 2;
    const inside = lanesIn(j, own.lo, own.hi, i);
    const s = v128.load(row + o);
    // Lanes outside the range compute on e = 1, which keeps them finite; they are masked out.
    const e = v128.bitselect(expv(f32x4.sub(s, v128.load(cmax + o))), f32x4.splat(1), inside);
    const den = f32x4.add(f32x4.add(e, dv), eps);
    const lambda = f32x4.neg(logv(f32x4.add(f32x4.div(e, den), eps)));
    const q = f32x4.div(e, f32x4.add(e, f32x4.mul(eps, den)));
    lossAcc = f32x4.add(lossAcc, v128.and(lambda, inside));
    dDAcc = f32x4.add(dDAcc, v128.and(f32x4.div(q, den), inside));
    const gpos = f32x4.mul(f32x4.mul(f32x4.div(dEps, den), q), posScale);
    v128.store(row + o, v128.bitselect(gpos, s, inside));
  }
  // Pass 3: the negatives' weights e · dL/dD.
  const negScale = f32x4.splat(hsum(dDAcc) / <f32>positives * scale);
  for (let j = other.lo & ~3; j < other.hi; j += 4) {
    const o = <usize>j << 2;
    const v = v128.load(row + o);
    v128.store(row + o, v128.bitselect(f32x4.mul(v, negScale), v, lanesIn(j, other.lo, other.hi, -1)));
  }
  return <f64>hsum(lossAcc) / <f64>positives;
}
