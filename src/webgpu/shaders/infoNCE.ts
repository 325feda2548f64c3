// FOCAL InfoNCE++'s passes, as assembly/info_nce.ts: queries U (J pristine pixel rows) against
// negatives X (M forged pixel rows) over the similarity tiles (similarity.ts), and the mean-logit
// positive's column sums.
//
// Stats rows (one per query): x = ℓ0, y = LSE over the other queries (mean-exp), z = LSE over
// [ℓ0, negatives], w = ∂loss/∂ℓ0 · gradScale.

import { defineKernel, perItem } from './kernel.js';
import { rowStatsKernels, weightsKernels } from './similarity.js';

export const INFO_NCE_KERNELS = {
  ...rowStatsKernels({
    // mean-exp: LSE over the other queries; ℓ0 = that − ln(J−1).
    nceQueryLse: {
      kind: 'lse',
      params: { logOthers: 'f32' },
      term: 'if (j != i) { return vec2<f32>(s, 1.0); } return vec2<f32>(0.0);',
      finish: 'let lse = c.x + log(c.y); stats[i].y = lse; stats[i].x = lse - P.logOthers;',
    },
    // LSE over [ℓ0, negatives] and ∂loss/∂ℓ0 = softmax_0 − 1, times gradScale.
    nceNegLse: {
      kind: 'lse',
      params: { gradScale: 'f32' },
      term: 'return vec2<f32>(s, 1.0);',
      finish: `
      let l0 = ri.x;
      let m = max(c.x, l0);
      let e0 = exp(l0 - m);
      let sum = c.y * exp(c.x - m) + e0;
      stats[i].z = m + log(sum);
      stats[i].w = (e0 / sum - 1.0) * P.gradScale;`,
    },
  }),
  ...weightsKernels({
    // query rows × negatives: softmax weights of the query's row.
    nceNegRows: { body: 'return exp(s - rs[i].z);' },
    // negative rows × queries: the same weights, by the query's (column) statistics.
    nceNegCols: { body: 'return exp(s - cs[j].z);' },
    // mean-exp positive pairs, both directions.
    nceQueryPairs: {
      body: `
      if (i == j) { return 0.0; }
      return rs[i].w * exp(s - rs[i].y) + cs[j].w * exp(s - cs[j].y);`,
    },
  }),
};

/** outSum[c] = Σ_a (weighted ? stats[a].w : 1) · U[a][c] over the rows. */
export const COLSUM = defineKernel({
  label: 'colsum',
  params: { rows: 'u32', c: 'u32', weighted: 'u32' },
  bindings: { U: ['read', 'f32'], stats: ['read', 'vec4<f32>'], outSum: ['read_write', 'f32'] },
  body: perItem(
    'c',
    'P.c',
    /* wgsl */ `
  var inner = 0.0;
  var outer = 0.0;
  for (var a = 0u; a < P.rows; a++) {
    var w = 1.0;
    if (P.weighted != 0u) { w = stats[a].w; }
    inner += w * U[a * P.c + c];
    if ((a & 31u) == 31u) { outer += inner; inner = 0.0; }
  }
  outSum[c] = outer + inner;`,
  ),
});

/** mean-logit: ℓ0_a = (u_a·S − u_a·u_a)/(J−1) / t into stats[a].x, for the J = rows queries; others = J − 1. */
export const MEAN_LOGIT = defineKernel({
  label: 'meanLogit',
  params: { rows: 'u32', c: 'u32', invT: 'f32', others: 'f32' },
  bindings: { U: ['read', 'f32'], S: ['read', 'f32'], stats: ['read_write', 'vec4<f32>'] },
  body: perItem(
    'a',
    'P.rows',
    /* wgsl */ `
  let base = a * P.c;
  var ds = vec2<f32>(0.0);
  var outer = vec2<f32>(0.0);
  for (var k = 0u; k < P.c; k++) {
    let u = U[base + k];
    ds += vec2<f32>(u * S[k], u * u);
    if ((k & 15u) == 15u) { outer += ds; ds = vec2<f32>(0.0); }
  }
  let d = outer + ds;
  stats[a].x = (d.x - d.y) / P.others * P.invT;`,
  ),
});

/**
 * mean-logit backward, w_a = stats[a].w: dU_a += scale · (w_a (S − u_a) + (T − w_a u_a)),
 * T = Σ_a w_a u_a, over the J = rows queries; scale = 1/((J−1) t).
 */
export const MEAN_LOGIT_BACK = defineKernel({
  label: 'meanLogitBack',
  params: { rows: 'u32', c: 'u32', scale: 'f32' },
  bindings: {
    U: ['read', 'f32'],
    S: ['read', 'f32'],
    T: ['read', 'f32'],
    stats: ['read', 'vec4<f32>'],
    dU: ['read_write', 'f32'],
  },
  body: perItem(
    'id',
    'P.rows * P.c',
    /* wgsl */ `
  let a = id / P.c;
  let c = id % P.c;
  let w = stats[a].w;
  let u = U[id];
  dU[id] += (w * (S[c] - u) + (T[c] - w * u)) * P.scale;`,
  ),
});
