// CFL-Net patch contrastive loss of one image (spec section 4), value and gradient.
//
// Features are average-pooled into N patch rows and L2-normalized (Z, N × Cp). The similarities
// S = Z·Zᵀ/t are produced one strip of STRIP_ROWS rows at a time and consumed at once: every
// quantity of the loss is row-local given a few per-column constants, so each strip is turned in
// place into the gradient weights G = ∂loss/∂S, then dZ += G·Z (rows of the strip) and
// dZ += Gᵀ·Z_strip (every row). No N × N matrix exists; memory is O(N·C).

import { alloc } from './memory';
import { expv, hmax, hsum, logv } from './simd_math';
import { accumulateWeighted, accumulateWeightedTransposed, packPanels, similarityStrip } from './similarity';
import { normalizeRows, normalizeRowsBackward } from './normalize';
import { avgPoolRows, avgPoolRowsBackward, patchLabels } from './pooling';

export const VARIANT_EXACT: i32 = 0;
export const VARIANT_CFLNET: i32 = 1;

const STRIP_ROWS = 32;
const EPS: f32 = 1e-18;
// Stands for −∞ in a strip: exp(NEG − m) is 0 and it never wins a maximum.
const NEG: f32 = -3.0e38;

// @ts-ignore: decorator
@inline function roundUp8(n: i32): i32 { return (n + 7) & ~7; }

/**
 * The loss of one image (C × H × W features, H × W float32 mask): returns (1/N)·Σ_i L_i and writes
 * L_i (N float32) to `perPatch`, the labels (N bytes) to `labelsOut`, and for cflnet the column
 * maxima c_j (N float32) to `columnMax` when it is ≠ 0. When `grad` ≠ 0 it receives
 * gradScale · ∂(Σ_i L_i)/∂features: the caller passes gradScale = 1/(N·B) for the batch mean.
 * `grad` may alias `features`.
 * Every temporary lives in the arena; the caller resets it after copying the results out.
 */
export function patchContrastImage(features: usize, mask: usize, c: i32, h: i32, w: i32, p: i32, temperature: f64, variant: i32, gradScale: f32, perPatch: usize, labelsOut: usize, columnMax: usize, grad: usize): f64 {
  const kh = h / p, kw = w / p, n = kh * kw;
  const np = roundUp8(n), cp = roundUp8(c);
  const rowBytes = <usize>cp << 2, matBytes = <usize>np * rowBytes;
  const z = alloc(matBytes);
  memory.fill(z, 0, matBytes);
  avgPoolRows(features, c, h, w, p, cp, z);
  const norms = alloc(<usize>np << 3);
  normalizeRows(z, np, cp, z, norms);
  patchLabels(mask, h, w, p, labelsOut);
  // Column classes as int32 lanes; padding columns get -1 and never match a label.
  const cls = alloc(<usize>np << 2);
  let forged = 0;
  for (let j = 0; j < np; j++) {
    const lab = j < n ? <i32>load<u8>(labelsOut + <usize>j) : -1;
    store<i32>(cls + (<usize>j << 2), lab);
    if (lab == 1) forged++;
  }
  const panels = alloc(matBytes);
  packPanels(z, np, cp, panels);
  const strip = alloc(<usize>STRIP_ROWS * <usize>np * 4);
  const invT = <f32>(1.0 / temperature);
  const cmax = alloc(<usize>np << 2);
  if (variant == VARIANT_CFLNET) {
    columnMaxima(z, np, n, cp, panels, invT, strip, cmax);
    if (columnMax != 0) memory.copy(columnMax, cmax, <usize>n << 2);
  }
  const dz = alloc(matBytes);
  memory.fill(dz, 0, matBytes);
  // ∂s/∂z carries 1/t; it is folded into the weights before the two accumulations.
  const weightScale = gradScale * invT;
  let total: f64 = 0;
  for (let i0 = 0; i0 < np; i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0);
    similarityStrip(z + <usize>i0 * rowBytes, rows, panels, np >> 3, cp, invT, strip, np);
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const row = strip + <usize>r * <usize>np * 4;
      let li: f64 = 0;
      if (i < n) {
        const lab = load<i32>(cls + (<usize>i << 2));
        const positives = (lab == 1 ? forged : n - forged) - 1;
        const negatives = lab == 1 ? n - forged : forged;
        li = variant == VARIANT_CFLNET
          ? cflnetRow(row, np, i, lab, cls, cmax, positives, weightScale)
          : exactRow(row, np, i, lab, cls, positives, negatives, weightScale);
      } else {
        memory.fill(row, 0, <usize>np << 2);
      }
      if (i < n) store<f32>(perPatch + (<usize>i << 2), <f32>li);
      total += li;
    }
    if (grad != 0) {
      accumulateWeighted(strip, rows, np, np, z, cp, dz + <usize>i0 * rowBytes);
      accumulateWeightedTransposed(strip, rows, np, np, z + <usize>i0 * rowBytes, cp, dz);
    }
  }
  if (grad != 0) {
    normalizeRowsBackward(z, dz, np, cp, norms, dz);
    avgPoolRowsBackward(dz, c, h, w, p, cp, grad);
  }
  return total / <f64>n;
}

/** c_j = max(0, max_{i≠j} s_ij): by symmetry a row maximum, with the diagonal forced to 0. */
function columnMaxima(z: usize, np: i32, n: i32, cp: i32, panels: usize, invT: f32, strip: usize, cmax: usize): void {
  const rowBytes = <usize>cp << 2;
  for (let i0 = 0; i0 < np; i0 += STRIP_ROWS) {
    const rows = min(STRIP_ROWS, np - i0);
    similarityStrip(z + <usize>i0 * rowBytes, rows, panels, np >> 3, cp, invT, strip, np);
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      const row = strip + <usize>r * <usize>np * 4;
      store<f32>(row + (<usize>i << 2), 0);
      let m = f32x4.splat(0);
      let j = 0;
      for (; j + 4 <= n; j += 4) m = f32x4.max(m, v128.load(row + (<usize>j << 2)));
      let best = hmax(m);
      for (; j < n; j++) best = max(best, load<f32>(row + (<usize>j << 2)));
      store<f32>(cmax + (<usize>i << 2), best);
    }
  }
}

// @ts-ignore: decorator
@inline function laneIds(j: i32): v128 {
  return i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3));
}

/**
 * Exact variant, one anchor row: L_i = (1/|P|) Σ_p softplus(LSE_N − s_ip). Replaces the row of
 * similarities by its gradient weights ∂L_i/∂s_ij · scale:
 *   positives −σ(LSE_N − s_ip)/|P|,  negatives (Σ_p σ_p/|P|) · softmax_N(s_in).
 */
function exactRow(row: usize, np: i32, i: i32, lab: i32, cls: usize, positives: i32, negatives: i32, scale: f32): f64 {
  if (positives == 0 || negatives == 0) {
    memory.fill(row, 0, <usize>np << 2);
    return 0;
  }
  const labv = i32x4.splat(lab), self = i32x4.splat(i), none = i32x4.splat(-1);
  // Pass 1: maximum over the negatives.
  let m = f32x4.splat(NEG);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const cl = v128.load(cls + o);
    const neg = v128.andnot(v128.not(i32x4.eq(cl, labv)), i32x4.eq(cl, none));
    m = f32x4.max(m, v128.bitselect(v128.load(row + o), f32x4.splat(NEG), neg));
  }
  const mv = f32x4.splat(hmax(m));
  // Pass 2: Σ exp over the negatives; their lanes keep exp(s − m) for pass 4.
  let se = f32x4.splat(0);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const cl = v128.load(cls + o);
    const neg = v128.andnot(v128.not(i32x4.eq(cl, labv)), i32x4.eq(cl, none));
    const s = v128.load(row + o);
    const e = v128.and(expv(f32x4.sub(s, mv)), neg);
    se = f32x4.add(se, e);
    v128.store(row + o, v128.bitselect(e, s, neg));
  }
  const sumE = hsum(se);
  const lse = f32x4.splat(hmax(m) + f32x4.extract_lane(logv(f32x4.splat(sumE)), 0));
  // Pass 3: the positives' softplus and sigmoid.
  const invP = f32x4.splat(1.0 / <f32>positives);
  let lossAcc = f32x4.splat(0), sigAcc = f32x4.splat(0);
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const pos = v128.andnot(i32x4.eq(v128.load(cls + o), labv), i32x4.eq(laneIds(j), self));
    const x = f32x4.sub(lse, v128.load(row + o));
    const e = expv(f32x4.neg(f32x4.abs(x)));                       // exp(−|x|) in (0, 1]
    const softplus = f32x4.add(f32x4.max(x, zero), logv(f32x4.add(one, e)));
    const inv = f32x4.div(one, f32x4.add(one, e));
    const sig = v128.bitselect(inv, f32x4.mul(e, inv), f32x4.ge(x, zero));
    lossAcc = f32x4.add(lossAcc, v128.and(softplus, pos));
    sigAcc = f32x4.add(sigAcc, v128.and(sig, pos));
    const gpos = f32x4.mul(f32x4.neg(sig), f32x4.mul(invP, f32x4.splat(scale)));
    v128.store(row + o, v128.bitselect(gpos, v128.load(row + o), pos));
  }
  // Pass 4: the negatives' weights; every other lane (self, padding) becomes 0.
  const negScale = f32x4.splat(hsum(sigAcc) / <f32>positives / sumE * scale);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const cl = v128.load(cls + o);
    const neg = v128.andnot(v128.not(i32x4.eq(cl, labv)), i32x4.eq(cl, none));
    const pos = v128.andnot(i32x4.eq(cl, labv), i32x4.eq(laneIds(j), self));
    const v = v128.load(row + o);
    v128.store(row + o, v128.or(v128.and(f32x4.mul(v, negScale), neg), v128.and(v, pos)));
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
function cflnetRow(row: usize, np: i32, i: i32, lab: i32, cls: usize, cmax: usize, positives: i32, scale: f32): f64 {
  if (positives == 0) {
    memory.fill(row, 0, <usize>np << 2);
    return 0;
  }
  const labv = i32x4.splat(lab), self = i32x4.splat(i), none = i32x4.splat(-1);
  // Pass 1: e = exp(s − c) on every real column but the diagonal; D over the negatives.
  let dAcc = f32x4.splat(0);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const cl = v128.load(cls + o);
    const real = v128.andnot(v128.not(i32x4.eq(cl, none)), i32x4.eq(laneIds(j), self));
    const e = v128.and(expv(f32x4.sub(v128.load(row + o), v128.load(cmax + o))), real);
    dAcc = f32x4.add(dAcc, v128.andnot(e, i32x4.eq(cl, labv)));
    v128.store(row + o, e);
  }
  const d = hsum(dAcc);
  const dv = f32x4.splat(d), eps = f32x4.splat(EPS), dEps = f32x4.splat(d + EPS);
  const invP: f32 = <f32>1.0 / <f32>positives;
  const posScale = f32x4.splat(-invP * scale);
  // Pass 2: the positives' λ and weights, and Σ_P (e/(e + ε·den))/den for the negatives.
  let lossAcc = f32x4.splat(0), dDAcc = f32x4.splat(0);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const pos = v128.andnot(i32x4.eq(v128.load(cls + o), labv), i32x4.eq(laneIds(j), self));
    const e = v128.bitselect(v128.load(row + o), f32x4.splat(1), pos);    // 1 keeps masked lanes finite
    const den = f32x4.add(f32x4.add(e, dv), eps);
    const lambda = f32x4.neg(logv(f32x4.add(f32x4.div(e, den), eps)));
    const q = f32x4.div(e, f32x4.add(e, f32x4.mul(eps, den)));
    lossAcc = f32x4.add(lossAcc, v128.and(lambda, pos));
    dDAcc = f32x4.add(dDAcc, v128.and(f32x4.div(q, den), pos));
    const gpos = f32x4.mul(f32x4.mul(f32x4.div(dEps, den), q), posScale);
    v128.store(row + o, v128.bitselect(gpos, v128.load(row + o), pos));
  }
  // Pass 3: the negatives' weights e · dL/dD; the diagonal and padding lanes become 0.
  const negScale = f32x4.splat(hsum(dDAcc) * invP * scale);
  for (let j = 0; j < np; j += 4) {
    const o = <usize>j << 2;
    const cl = v128.load(cls + o);
    const neg = v128.andnot(v128.not(i32x4.eq(cl, labv)), i32x4.eq(cl, none));
    const pos = v128.andnot(i32x4.eq(cl, labv), i32x4.eq(laneIds(j), self));
    const v = v128.load(row + o);
    v128.store(row + o, v128.or(v128.and(f32x4.mul(v, negScale), neg), v128.and(v, pos)));
  }
  return <f64>hsum(lossAcc) / <f64>positives;
}
