// CFL-Net patch contrast's passes over the similarity tiles (similarity.ts), as
// assembly/patch_contrast.ts. Patch rows are sorted by class (pristine first, p0 of them), so a
// patch's positives and negatives are two index ranges.
//
// Stats rows: x = c_i (cflnet column maximum), y = LSE over the negatives (exact) or D_i (cflnet),
// z = L_i, w = Σ_P σ (exact) or Σ_P q/den (cflnet).

import { rowStatsKernels, weightsKernels } from './similarity.js';

/** The class split: rows 0..p0−1 are pristine, p0..rows−1 forged. */
const PC_PARAMS = { p0: 'u32' } as const;

const PC_CLASSES = /* wgsl */ `
fn forged(i: u32) -> bool { return i >= P.p0; }
fn ownCount(i: u32) -> u32 { return select(P.p0, P.rows - P.p0, forged(i)); }
`;

const PC_WEIGHT_HELPERS = /* wgsl */ `${PC_CLASSES}
// ∂L_a/∂s_ab for the exact variant (a's stats: y = LSE_N, w = Σ_P σ).
fn gExact(a: u32, b: u32, s: f32, sa: vec4<f32>) -> f32 {
  let own = ownCount(a);
  if (own < 2u || own >= P.rows) { return 0.0; }
  let pos = f32(own - 1u);
  if (forged(a) == forged(b)) {
    let x = sa.y - s;
    let e = exp(-abs(x));
    let inv = 1.0 / (1.0 + e);
    return -select(e * inv, inv, x >= 0.0) / pos;
  }
  return sa.w / pos * exp(s - sa.y);
}
// ∂L_a/∂s_ab for cflnet (a's stats: y = D, w = Σ_P q/den; b's x = c_b).
fn gCfl(a: u32, b: u32, s: f32, sa: vec4<f32>, sb: vec4<f32>) -> f32 {
  let own = ownCount(a);
  if (own < 2u) { return 0.0; }
  let pos = f32(own - 1u);
  let e = exp(s - sb.x);
  if (forged(a) == forged(b)) {
    let den = (e + sa.y) + EPS;
    let q = e / (e + EPS * den);
    return -((sa.y + EPS) / den) * q / pos;
  }
  return e * sa.w / pos;
}
`;

export const PATCH_CONTRAST_KERNELS = {
  ...rowStatsKernels({
    // c_i = max(0, max_{j≠i} s_ij) (the column maximum, by symmetry a row maximum).
    pcColmax: {
      kind: 'max',
      init: '0.0',
      helpers: PC_CLASSES,
      params: PC_PARAMS,
      term: 'if (j != i) { return vec2<f32>(s, 1.0); } return vec2<f32>(0.0);',
      finish: 'stats[i].x = c.x;',
    },
    // exact: LSE of s_in over the negatives.
    pcExactLse: {
      kind: 'lse',
      helpers: PC_CLASSES,
      params: PC_PARAMS,
      term: 'if (forged(j) != forged(i)) { return vec2<f32>(s, 1.0); } return vec2<f32>(0.0);',
      finish: 'stats[i].y = select(NEG, c.x + log(c.y), c.y > 0.0);',
    },
    // exact: Σ_P softplus(LSE − s_ip) and Σ_P σ(LSE − s_ip).
    pcExactPos: {
      kind: 'sum',
      helpers: PC_CLASSES,
      params: PC_PARAMS,
      term: `
      if (forged(j) != forged(i) || j == i || ownCount(i) >= P.rows) { return vec2<f32>(0.0); }
      let x = ri.y - s;
      let e = exp(-abs(x));
      let inv = 1.0 / (1.0 + e);
      return vec2<f32>(max(x, 0.0) + log(1.0 + e), select(e * inv, inv, x >= 0.0));`,
      finish: `
      let own = ownCount(i);
      if (own >= 2u && own < P.rows) { stats[i].z = c.x / f32(own - 1u); stats[i].w = c.y; }
      else { stats[i].z = 0.0; stats[i].w = 0.0; }`,
    },
    // cflnet: D_i = Σ_N exp(s_in − c_n).
    pcCflD: {
      kind: 'sum',
      helpers: PC_CLASSES,
      params: PC_PARAMS,
      term: 'if (forged(j) != forged(i)) { return vec2<f32>(exp(s - colv[j].x), 0.0); } return vec2<f32>(0.0);',
      finish: 'stats[i].y = c.x;',
    },
    // cflnet: Σ_P λ_ip and Σ_P q/den (the latter for the negatives' gradient weights).
    pcCflPos: {
      kind: 'sum',
      helpers: PC_CLASSES,
      params: PC_PARAMS,
      term: `
      if (forged(j) != forged(i) || j == i) { return vec2<f32>(0.0); }
      let e = exp(s - colv[j].x);
      let den = (e + ri.y) + EPS;
      let q = e / (e + EPS * den);
      return vec2<f32>(-log(e / den + EPS), q / den);`,
      finish: `
      let own = ownCount(i);
      if (own >= 2u) { stats[i].z = c.x / f32(own - 1u); stats[i].w = c.y; }
      else { stats[i].z = 0.0; stats[i].w = 0.0; }`,
    },
  }),
  ...weightsKernels({
    // exact: W_ij = g(i, j) + g(j, i), s symmetric.
    pcExact: {
      helpers: PC_WEIGHT_HELPERS,
      params: PC_PARAMS,
      body: `
      if (i == j) { return 0.0; }
      return gExact(i, j, s, rs[i]) + gExact(j, i, s, cs[j]);`,
    },
    // cflnet, c held constant.
    pcCflnet: {
      helpers: PC_WEIGHT_HELPERS,
      params: PC_PARAMS,
      body: `
      if (i == j) { return 0.0; }
      return gCfl(i, j, s, rs[i], cs[j]) + gCfl(j, i, s, cs[j], rs[i]);`,
    },
  }),
};
