// WGSL compute kernels of the WebGPU backend, as TypeScript template strings. All arithmetic is
// float32; the exact algorithms follow the wasm kernels (assembly/*.ts):
//
// - Row matrices are `rows × C` (row-major, unpadded float32). Patch rows are sorted by class
//   (pristine first, `p0` of them), so a patch's positives and negatives are two index ranges.
// - `rowstats:<mode>` sweeps a block of 32 rows of A against every row of B, 32×32 similarity
//   tiles built from 16-channel slices staged in workgroup memory, and reduces each row on the
//   fly (a running maximum, an online log-sum-exp, or two sums). Nothing N×N is ever stored.
// - `weights:<mode>` turns one strip of rows (at most the engine's strip budget) into gradient
//   weights W = ∂loss/∂S · scale; `gemm` then adds W·B to the gradient rows. The strip is bounded
//   whatever the image size.
// - Long float32 sums are two-level (a short inner sum flushed into an outer one), which keeps the
//   rounding error near √n·ε without relying on compensated arithmetic that compilers may fold.
//
// Every kernel reads a 64-byte `Params` block at binding 0 (a dynamic offset into one uniform
// buffer per submission). The binding list of each kernel is in KERNELS below; the TypeScript side
// (device.ts) builds the bind group layouts from it.

const HEADER = /* wgsl */ `
struct Params {
  n0: u32, n1: u32, n2: u32, n3: u32,
  n4: u32, n5: u32, n6: u32, n7: u32,
  f0: f32, f1: f32, f2: f32, f3: f32,
  f4: f32, f5: f32, f6: f32, f7: f32,
}
@group(0) @binding(0) var<uniform> P: Params;
const NEG: f32 = -3.0e38;
const EPS: f32 = 1e-18;
fn flatIndex(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }
`;

/** Flags the first non-finite float (by its bits) among n0 values; reports index + n1 in bad[n2]. */
const FINITE = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> bad: array<atomic<u32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flatIndex(gid, nwg);
  if (i >= P.n0) { return; }
  if ((data[i] & 0x7f800000u) == 0x7f800000u) { atomicMin(&bad[P.n2], i + P.n1); }
}`;

/**
 * p×p average pooling of a channel slice into sorted patch rows:
 * z[row][cOff + cl] = mean of the patch patchOf[row] of slice channel cl.
 * n0 rows, n1 C, n2 W, n3 p, n4 kw, n5 cOff, n6 slice channels, n7 H; f0 = 1/p².
 */
const POOL = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> feat: array<f32>;
@group(0) @binding(2) var<storage, read> patchOf: array<u32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = flatIndex(gid, nwg);
  if (id >= P.n0 * P.n6) { return; }
  let row = id / P.n6;
  let cl = id % P.n6;
  let pat = patchOf[row];
  let r = pat / P.n4;
  let q = pat % P.n4;
  var s = 0.0;
  for (var y = 0u; y < P.n3; y++) {
    let base = (cl * P.n7 + r * P.n3 + y) * P.n2 + q * P.n3;
    for (var x = 0u; x < P.n3; x++) { s += feat[base + x]; }
  }
  z[row * P.n1 + P.n5 + cl] = s * P.f0;
}`;

/**
 * Backward of POOL for one channel slice: g[cl][y][x] = dz[rowOf[patch(y, x)]][cOff + cl] / p².
 * n0 slice elements, n1 C, n2 W, n3 p, n4 kw, n5 cOff, n7 H; f0 = 1/p².
 */
const POOL_BACK = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> dz: array<f32>;
@group(0) @binding(2) var<storage, read> rowOf: array<u32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = flatIndex(gid, nwg);
  if (id >= P.n0) { return; }
  let plane = P.n7 * P.n2;
  let cl = id / plane;
  let rem = id % plane;
  let y = rem / P.n2;
  let x = rem % P.n2;
  let pat = (y / P.n3) * P.n4 + x / P.n3;
  g[id] = dz[rowOf[pat] * P.n1 + P.n5 + cl] * P.f0;
}`;

/**
 * Gathers pixel rows of a channel slice: out[row][cOff + cl] = feat[cl][idx[row]].
 * n0 rows, n1 C, n2 H·W, n5 cOff, n6 slice channels.
 */
const GATHER = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> feat: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> outRows: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = flatIndex(gid, nwg);
  if (id >= P.n0 * P.n6) { return; }
  let row = id / P.n6;
  let cl = id % P.n6;
  outRows[row * P.n1 + P.n5 + cl] = feat[cl * P.n2 + idx[row]];
}`;

/**
 * L2 normalization of n0 rows of C = n1 values in place (F.normalize, eps 1e-12); norms[r] = ‖v_r‖.
 * The norm is taken of v/max|v| and scaled back, so that float32 squares neither underflow (tiny
 * vectors keep the right branch) nor overflow.
 */
const NORMALIZE = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read_write> m: array<f32>;
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = flatIndex(gid, nwg);
  if (r >= P.n0) { return; }
  let base = r * P.n1;
  var mx = 0.0;
  for (var k = 0u; k < P.n1; k++) { mx = max(mx, abs(m[base + k])); }
  var norm = 0.0;
  if (mx > 0.0) {
    var inner = 0.0;
    var outer = 0.0;
    for (var k = 0u; k < P.n1; k++) {
      let y = m[base + k] / mx;
      inner += y * y;
      if ((k & 15u) == 15u) { outer += inner; inner = 0.0; }
    }
    norm = mx * sqrt(outer + inner);
  }
  norms[r] = norm;
  let inv = 1.0 / max(norm, 1e-12);
  for (var k = 0u; k < P.n1; k++) { m[base + k] = m[base + k] * inv; }
}`;

/** dv = (dz − z (z·dz))/‖v‖ when ‖v‖ ≥ 1e-12, else dz/1e-12, in place over dz. n0 rows, n1 C. */
const NORMALIZE_BACK = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<storage, read> norms: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = flatIndex(gid, nwg);
  if (r >= P.n0) { return; }
  let base = r * P.n1;
  let norm = norms[r];
  if (norm >= 1e-12) {
    var inner = 0.0;
    var outer = 0.0;
    for (var k = 0u; k < P.n1; k++) {
      inner += z[base + k] * g[base + k];
      if ((k & 15u) == 15u) { outer += inner; inner = 0.0; }
    }
    let d = outer + inner;
    let inv = 1.0 / norm;
    for (var k = 0u; k < P.n1; k++) { g[base + k] = (g[base + k] - z[base + k] * d) * inv; }
  } else {
    let inv = 1.0 / 1e-12;
    for (var k = 0u; k < P.n1; k++) { g[base + k] = g[base + k] * inv; }
  }
}`;

// ---------------------------------------------------------------------------------------------
// Tiled similarity kernels. Threads (tx, ty) of a 16×16 workgroup own rows ty, ty+16 and columns
// tx, tx+16 of a 32×32 tile; channels are staged 16 at a time in workgroup memory.

const TILE = /* wgsl */ `
const TR: u32 = 32u;
const TK: u32 = 16u;
var<workgroup> As: array<f32, 512>;
var<workgroup> Bs: array<f32, 512>;

// Stages channels k0..k0+15 of A rows aBase.. and B rows bBase.. (zero outside the matrices).
fn stage(aBase: u32, nA: u32, bBase: u32, nB: u32, c: u32, k0: u32, t: u32) {
  for (var q = 0u; q < 2u; q++) {
    let e = t + q * 256u;
    let r = e / TK;
    let k = k0 + e % TK;
    let i = aBase + r;
    var va = 0.0;
    if (i < nA && k < c) { va = A[i * c + k]; }
    As[e] = va;
    let j = bBase + r;
    var vb = 0.0;
    if (j < nB && k < c) { vb = B[j * c + k]; }
    Bs[e] = vb;
  }
}

// The 2×2 dot products of this thread for one 32×32 tile: (row ty, col tx), (ty, tx+16),
// (ty+16, tx), (ty+16, tx+16).
fn tileDots(aBase: u32, nA: u32, bBase: u32, nB: u32, c: u32, tx: u32, ty: u32) -> vec4<f32> {
  let t = ty * 16u + tx;
  var d = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < c; k0 += TK) {
    stage(aBase, nA, bBase, nB, c, k0, t);
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let a0 = As[ty * TK + k];
      let a1 = As[(ty + 16u) * TK + k];
      let b0 = Bs[tx * TK + k];
      let b1 = Bs[(tx + 16u) * TK + k];
      d += vec4<f32>(a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    }
    workgroupBarrier();
  }
  return d;
}
`;

// Patch-contrast helpers: rows sorted by class, p0 = P.n3 pristine rows out of n = P.n0.
const PC_CLASSES = /* wgsl */ `
fn forged(i: u32) -> bool { return i >= P.n3; }
fn ownCount(i: u32) -> u32 { return select(P.n3, P.n0 - P.n3, forged(i)); }
`;

type Kind = 'max' | 'lse' | 'sum';

interface RowMode {
  kind: Kind;
  /** Initial running maximum (kind 'max'). */
  init?: string;
  /** fn term(i, j, s, ri: vec4f) -> vec2f: (value, 1 if it counts) or, for 'sum', (v1, v2). */
  term: string;
  /** fn finish(i, ri: vec4f, c: vec4f): c = (max) | (m, Σexp(x − m)) | (Σv1, Σv2). */
  finish: string;
  pc?: boolean;
}

/**
 * Row-statistic passes. Stats rows are vec4 per row of A. Patch contrast: x = c_i (cflnet column
 * maximum), y = LSE over the negatives (exact) or D_i (cflnet), z = L_i, w = Σ_P σ (exact) or
 * Σ_P q/den (cflnet). InfoNCE: x = ℓ0, y = LSE over the other queries (mean-exp), z = LSE over
 * [ℓ0, negatives], w = ∂loss/∂ℓ0 · gradScale. `colv` holds the stats of B's rows where a pass
 * needs them (a copy, since `stats` is being written).
 */
const ROW_MODES: Record<string, RowMode> = {
  // c_i = max(0, max_{j≠i} s_ij) (the column maximum, by symmetry a row maximum).
  pcColmax: {
    kind: 'max',
    init: '0.0',
    pc: true,
    term: 'if (j != i) { return vec2<f32>(s, 1.0); } return vec2<f32>(0.0);',
    finish: 'stats[i].x = c.x;',
  },
  // exact: LSE of s_in over the negatives.
  pcExactLse: {
    kind: 'lse',
    pc: true,
    term: 'if (forged(j) != forged(i)) { return vec2<f32>(s, 1.0); } return vec2<f32>(0.0);',
    finish: 'stats[i].y = select(NEG, c.x + log(c.y), c.y > 0.0);',
  },
  // exact: Σ_P softplus(LSE − s_ip) and Σ_P σ(LSE − s_ip).
  pcExactPos: {
    kind: 'sum',
    pc: true,
    term: `
      if (forged(j) != forged(i) || j == i || ownCount(i) >= P.n0) { return vec2<f32>(0.0); }
      let x = ri.y - s;
      let e = exp(-abs(x));
      let inv = 1.0 / (1.0 + e);
      return vec2<f32>(max(x, 0.0) + log(1.0 + e), select(e * inv, inv, x >= 0.0));`,
    finish: `
      let own = ownCount(i);
      if (own >= 2u && own < P.n0) { stats[i].z = c.x / f32(own - 1u); stats[i].w = c.y; }
      else { stats[i].z = 0.0; stats[i].w = 0.0; }`,
  },
  // cflnet: D_i = Σ_N exp(s_in − c_n).
  pcCflD: {
    kind: 'sum',
    pc: true,
    term: 'if (forged(j) != forged(i)) { return vec2<f32>(exp(s - colv[j].x), 0.0); } return vec2<f32>(0.0);',
    finish: 'stats[i].y = c.x;',
  },
  // cflnet: Σ_P λ_ip and Σ_P q/den (the latter for the negatives' gradient weights).
  pcCflPos: {
    kind: 'sum',
    pc: true,
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
  // mean-exp: LSE over the other queries; ℓ0 = that − ln(J−1) (f2).
  nceQueryLse: {
    kind: 'lse',
    term: 'if (j != i) { return vec2<f32>(s, 1.0); } return vec2<f32>(0.0);',
    finish: 'let lse = c.x + log(c.y); stats[i].y = lse; stats[i].x = lse - P.f2;',
  },
  // LSE over [ℓ0, negatives] and ∂loss/∂ℓ0 = softmax_0 − 1, times gradScale (f1).
  nceNegLse: {
    kind: 'lse',
    term: 'return vec2<f32>(s, 1.0);',
    finish: `
      let l0 = ri.x;
      let m = max(c.x, l0);
      let e0 = exp(l0 - m);
      let sum = c.y * exp(c.x - m) + e0;
      stats[i].z = m + log(sum);
      stats[i].w = (e0 / sum - 1.0) * P.f1;`,
  },
};

function rowStatsKernel(mode: RowMode): string {
  const push = {
    max: 'if (v.y > 0.0) { st.x = max(st.x, v.x); }',
    lse: `if (v.y > 0.0) {
        if (v.x > st.z) {
          let f = select(exp(st.z - v.x), 0.0, st.z == NEG);
          st.x = st.x * f + 1.0; st.y = st.y * f; st.z = v.x;
        } else { st.x += exp(v.x - st.z); }
      }`,
    sum: 'st.x += v.x; st.z += v.y;',
  }[mode.kind];
  const flush = {
    max: '',
    lse: 'st.y += st.x; st.x = 0.0;',
    sum: 'st.y += st.x; st.x = 0.0; st.w += st.z; st.z = 0.0;',
  }[mode.kind];
  const init = {
    max: `vec4<f32>(${mode.init ?? 'NEG'}, 0.0, 0.0, 0.0)`,
    lse: 'vec4<f32>(0.0, 0.0, NEG, 0.0)',
    sum: 'vec4<f32>(0.0)',
  }[mode.kind];
  const combine = {
    max: 'var c = R[base]; for (var q = 1u; q < 16u; q++) { c.x = max(c.x, R[base + q].x); } return c;',
    lse: `var m = NEG;
      for (var q = 0u; q < 16u; q++) { m = max(m, R[base + q].z); }
      var s = 0.0;
      for (var q = 0u; q < 16u; q++) {
        let v = R[base + q];
        if (v.z > NEG) { s += (v.x + v.y) * exp(v.z - m); }
      }
      return vec4<f32>(m, s, 0.0, 0.0);`,
    sum: `var a = 0.0; var b = 0.0;
      for (var q = 0u; q < 16u; q++) { let v = R[base + q]; a += v.x + v.y; b += v.z + v.w; }
      return vec4<f32>(a, b, 0.0, 0.0);`,
  }[mode.kind];
  return /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> colv: array<vec4<f32>>;
${TILE}
${mode.pc ? PC_CLASSES : ''}
var<workgroup> R: array<vec4<f32>, 512>;

fn term(i: u32, j: u32, s: f32, ri: vec4<f32>) -> vec2<f32> { ${mode.term} }
fn push(st: ptr<function, vec4<f32>>, v: vec2<f32>) { ${push} }
fn flush(st: ptr<function, vec4<f32>>) { ${flush} }
fn combine(base: u32) -> vec4<f32> { ${combine} }
fn finish(i: u32, ri: vec4<f32>, c: vec4<f32>) { ${mode.finish} }
fn rowStat(i: u32) -> vec4<f32> { if (i < P.n0) { return stats[i]; } return vec4<f32>(0.0); }

// n0 rows of A, n1 rows of B, n2 C, n3 p0 (patch contrast); f0 = 1/t.
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let rowBase = wid.x * TR;
  let i0 = rowBase + ty;
  let i1 = i0 + 16u;
  let r0 = rowStat(i0);
  let r1 = rowStat(i1);
  var s0 = ${init};
  var s1 = ${init};
  let tiles = (P.n1 + TR - 1u) / TR;
  for (var tile = 0u; tile < tiles; tile++) {
    let j0 = tile * TR;
    let d = tileDots(rowBase, P.n0, j0, P.n1, P.n2, tx, ty) * P.f0;
    let ja = j0 + tx;
    let jb = ja + 16u;
    if (i0 < P.n0) {
      if (ja < P.n1) { push(&s0, term(i0, ja, d.x, r0)); }
      if (jb < P.n1) { push(&s0, term(i0, jb, d.y, r0)); }
    }
    if (i1 < P.n0) {
      if (ja < P.n1) { push(&s1, term(i1, ja, d.z, r1)); }
      if (jb < P.n1) { push(&s1, term(i1, jb, d.w, r1)); }
    }
    if ((tile & 31u) == 31u) { flush(&s0); flush(&s1); }
  }
  flush(&s0);
  flush(&s1);
  R[ty * 16u + tx] = s0;
  R[(ty + 16u) * 16u + tx] = s1;
  workgroupBarrier();
  if (tx == 0u) {
    if (i0 < P.n0) { finish(i0, r0, combine(ty * 16u)); }
    if (i1 < P.n0) { finish(i1, r1, combine((ty + 16u) * 16u)); }
  }
}`;
}

/**
 * Gradient-weight strips: W[i − i0][j] = weight(i, j, s_ij) · scale for rows i0 ≤ i < i0 + n5 of
 * A and every row j of B. rs/cs: stats of A's and B's rows.
 */
const WEIGHT_MODES: Record<string, { body: string; pc?: boolean }> = {
  // exact: W_ij = g(i, j) + g(j, i), s symmetric.
  pcExact: {
    pc: true,
    body: `
      if (i == j) { return 0.0; }
      return gExact(i, j, s, rs[i]) + gExact(j, i, s, cs[j]);`,
  },
  // cflnet, c held constant.
  pcCflnet: {
    pc: true,
    body: `
      if (i == j) { return 0.0; }
      return gCfl(i, j, s, rs[i], cs[j]) + gCfl(j, i, s, cs[j], rs[i]);`,
  },
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
};

const PC_WEIGHT_HELPERS = /* wgsl */ `
// ∂L_a/∂s_ab for the exact variant (a's stats: y = LSE_N, w = Σ_P σ).
fn gExact(a: u32, b: u32, s: f32, sa: vec4<f32>) -> f32 {
  let own = ownCount(a);
  if (own < 2u || own >= P.n0) { return 0.0; }
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

function weightsKernel(mode: { body: string; pc?: boolean }): string {
  return /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read> rs: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> cs: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> W: array<f32>;
${TILE}
${mode.pc ? PC_CLASSES + PC_WEIGHT_HELPERS : ''}
fn weight(i: u32, j: u32, s: f32) -> f32 { ${mode.body} }

// n0 rows of A, n1 rows of B, n2 C, n3 p0, n4 first strip row, n5 strip rows; f0 = 1/t, f1 = scale.
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let rowBase = P.n4 + wid.y * TR;
  let rowEnd = min(P.n0, P.n4 + P.n5);
  let j0 = wid.x * TR;
  let d = tileDots(rowBase, rowEnd, j0, P.n1, P.n2, tx, ty) * P.f0;
  let i0 = rowBase + ty;
  let i1 = i0 + 16u;
  let ja = j0 + tx;
  let jb = ja + 16u;
  if (i0 < rowEnd) {
    if (ja < P.n1) { W[(i0 - P.n4) * P.n1 + ja] = weight(i0, ja, d.x) * P.f1; }
    if (jb < P.n1) { W[(i0 - P.n4) * P.n1 + jb] = weight(i0, jb, d.y) * P.f1; }
  }
  if (i1 < rowEnd) {
    if (ja < P.n1) { W[(i1 - P.n4) * P.n1 + ja] = weight(i1, ja, d.z) * P.f1; }
    if (jb < P.n1) { W[(i1 - P.n4) * P.n1 + jb] = weight(i1, jb, d.w) * P.f1; }
  }
}`;
}

/**
 * out[n4 + r][c] = (n5 ? out : 0) + Σ_j W[r][j] · B[j][c] for the n0 rows of a strip.
 * n1 = columns of W (rows of B), n2 = C. 32×32 output tiles, j staged 16 at a time.
 */
const GEMM = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> outRows: array<f32>;
var<workgroup> Ws: array<f32, 512>;
var<workgroup> Bt: array<f32, 512>;
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let r0 = wid.y * 32u;
  let c0 = wid.x * 32u;
  var inner = vec4<f32>(0.0);
  var outer = vec4<f32>(0.0);
  var chunk = 0u;
  for (var j0 = 0u; j0 < P.n1; j0 += 16u) {
    for (var q = 0u; q < 2u; q++) {
      let e = t + q * 256u;
      let r = r0 + e / 16u;
      let j = j0 + e % 16u;
      var w = 0.0;
      if (r < P.n0 && j < P.n1) { w = W[r * P.n1 + j]; }
      Ws[e] = w;
      let jj = j0 + e / 32u;
      let c = c0 + e % 32u;
      var b = 0.0;
      if (jj < P.n1 && c < P.n2) { b = B[jj * P.n2 + c]; }
      Bt[e] = b;
    }
    workgroupBarrier();
    for (var k = 0u; k < 16u; k++) {
      let w0 = Ws[ty * 16u + k];
      let w1 = Ws[(ty + 16u) * 16u + k];
      let b0 = Bt[k * 32u + tx];
      let b1 = Bt[k * 32u + tx + 16u];
      inner += vec4<f32>(w0 * b0, w0 * b1, w1 * b0, w1 * b1);
    }
    workgroupBarrier();
    chunk++;
    if ((chunk & 15u) == 0u) { outer += inner; inner = vec4<f32>(0.0); }
  }
  let acc = outer + inner;
  let ra = r0 + ty;
  let rb = ra + 16u;
  let ca = c0 + tx;
  let cb = ca + 16u;
  let keep = P.n5 != 0u;
  if (ra < P.n0) {
    if (ca < P.n2) { let o = (P.n4 + ra) * P.n2 + ca; outRows[o] = acc.x + select(0.0, outRows[o], keep); }
    if (cb < P.n2) { let o = (P.n4 + ra) * P.n2 + cb; outRows[o] = acc.y + select(0.0, outRows[o], keep); }
  }
  if (rb < P.n0) {
    if (ca < P.n2) { let o = (P.n4 + rb) * P.n2 + ca; outRows[o] = acc.z + select(0.0, outRows[o], keep); }
    if (cb < P.n2) { let o = (P.n4 + rb) * P.n2 + cb; outRows[o] = acc.w + select(0.0, outRows[o], keep); }
  }
}`;

/** out[c] = Σ_a (n2 ? stats[a].w : 1) · U[a][c] over n0 rows, C = n1. */
const COLSUM = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> U: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> outSum: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = flatIndex(gid, nwg);
  if (c >= P.n1) { return; }
  var inner = 0.0;
  var outer = 0.0;
  for (var a = 0u; a < P.n0; a++) {
    var w = 1.0;
    if (P.n2 != 0u) { w = stats[a].w; }
    inner += w * U[a * P.n1 + c];
    if ((a & 31u) == 31u) { outer += inner; inner = 0.0; }
  }
  outSum[c] = outer + inner;
}`;

/** mean-logit: ℓ0_a = (u_a·S − u_a·u_a)/(J−1) / t into stats[a].x. n0 = J, n1 = C; f0 = 1/t, f1 = J − 1. */
const MEAN_LOGIT = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> U: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let a = flatIndex(gid, nwg);
  if (a >= P.n0) { return; }
  let base = a * P.n1;
  var ds = vec2<f32>(0.0);
  var outer = vec2<f32>(0.0);
  for (var k = 0u; k < P.n1; k++) {
    let u = U[base + k];
    ds += vec2<f32>(u * S[k], u * u);
    if ((k & 15u) == 15u) { outer += ds; ds = vec2<f32>(0.0); }
  }
  let d = outer + ds;
  stats[a].x = (d.x - d.y) / P.f1 * P.f0;
}`;

/**
 * mean-logit backward, w_a = stats[a].w: du_a += f0 · (w_a (S − u_a) + (T − w_a u_a)),
 * T = Σ_a w_a u_a. n0 = J, n1 = C; f0 = 1/((J−1) t).
 */
const MEAN_LOGIT_BACK = /* wgsl */ `${HEADER}
@group(0) @binding(1) var<storage, read> U: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read> T: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> dU: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = flatIndex(gid, nwg);
  if (id >= P.n0 * P.n1) { return; }
  let a = id / P.n1;
  let c = id % P.n1;
  let w = stats[a].w;
  let u = U[id];
  dU[id] += (w * (S[c] - u) + (T[c] - w * u)) * P.f0;
}`;

// ---------------------------------------------------------------------------------------------
// Cross-entropy, one invocation per pixel of a chunk of n0 images × n2 pixels (each image's C
// class planes of n2 values). Per-workgroup partial sums of the per-element losses are reduced
// in float64 on the CPU.

const CE_COMMON = /* wgsl */ `
var<workgroup> red: array<f32, 64>;
fn reduceLoss(loss: f32, lid: u32, slot: u32) {
  red[lid] = loss;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half = half / 2u) {
    if (lid < half) { red[lid] += red[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partial[slot] = red[0]; }
}
fn checkFinite(x: f32, at: u32, which: u32) {
  if ((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u) { atomicMin(&bad[which], at); }
}
// The caller's flat index of class k of chunk pixel (bi, e): n5 = H·W, n6 = first image, n7 = first pixel.
fn callerIndex(bi: u32, k: u32, e: u32) -> u32 { return ((P.n6 + bi) * P.n1 + k) * P.n5 + P.n7 + e; }
`;

/** The bindings both cross-entropy shaders share (binding 2 is the targets: `second`), then CE_COMMON. */
const ceBindings = (second: string): string => /* wgsl */ `@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> ${second};
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> per: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;
@group(0) @binding(7) var<storage, read_write> bad: array<atomic<u32>>;
${CE_COMMON}`;

/**
 * Index targets. n1 C, n3 ignoreIndex (bits), n4 flags (1 per-element, 2 grad);
 * f0 ε, f1 gradScale, f2 Σw (float32).
 */
const CE_INDEX = /* wgsl */ `${HEADER}
${ceBindings('tgt: array<i32>')}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let id = flatIndex(gid, nwg);
  var loss = 0.0;
  if (id < P.n0 * P.n2) {
    let c = P.n1;
    let bi = id / P.n2;
    let e = id % P.n2;
    let base = bi * c * P.n2 + e;
    let y = tgt[id];
    let valid = y != bitcast<i32>(P.n3);
    var m = logits[base];
    var xy = 0.0;
    var wy = 0.0;
    for (var k = 0u; k < c; k++) {
      let x = logits[base + k * P.n2];
      checkFinite(x, callerIndex(bi, k, e), 0u);
      m = max(m, x);
      if (i32(k) == y) { xy = x; wy = weights[k]; }
    }
    var s = 0.0;
    var swd = 0.0;
    for (var k = 0u; k < c; k++) {
      let d = logits[base + k * P.n2] - m;
      s += exp(d);
      swd -= weights[k] * d;
    }
    let logS = log(s);
    let keep = 1.0 - P.f0;
    let share = P.f0 / f32(c);
    loss = keep * wy * ((m - xy) + logS);
    if (P.f0 != 0.0) { loss += share * (swd + P.f2 * logS); }
    if (!valid) { loss = 0.0; }
    if ((P.n4 & 1u) != 0u) { per[id] = loss; }
    if ((P.n4 & 2u) != 0u) {
      let scale = select(0.0, P.f1, valid);
      let beta = keep * wy * scale;
      let alpha = (keep * wy + share * P.f2) / s * scale;
      for (var k = 0u; k < c; k++) {
        var g = exp(logits[base + k * P.n2] - m) * alpha;
        if (i32(k) == y) { g -= beta; }
        if (P.f0 != 0.0) { g -= share * weights[k] * scale; }
        grad[base + k * P.n2] = g;
      }
    }
  }
  reduceLoss(loss, lid, wid.x + wid.y * nwg.x);
}`;

/** Probability targets: per_e = −Σ_c w_c q'_c l_c. Parameters as CE_INDEX. */
const CE_PROBS = /* wgsl */ `${HEADER}
${ceBindings('probs: array<f32>')}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let id = flatIndex(gid, nwg);
  var loss = 0.0;
  if (id < P.n0 * P.n2) {
    let c = P.n1;
    let bi = id / P.n2;
    let e = id % P.n2;
    let base = bi * c * P.n2 + e;
    var m = logits[base];
    for (var k = 0u; k < c; k++) {
      let x = logits[base + k * P.n2];
      checkFinite(x, callerIndex(bi, k, e), 0u);
      checkFinite(probs[base + k * P.n2], callerIndex(bi, k, e), 1u);
      m = max(m, x);
    }
    let keep = 1.0 - P.f0;
    let share = P.f0 / f32(c);
    var s = 0.0;
    var wq = 0.0;
    var wqd = 0.0;
    for (var k = 0u; k < c; k++) {
      let o = base + k * P.n2;
      let d = logits[o] - m;
      s += exp(d);
      let wqk = weights[k] * (keep * probs[o] + share);
      wq += wqk;
      wqd += wqk * d;
    }
    loss = wq * log(s) - wqd;
    if ((P.n4 & 1u) != 0u) { per[id] = loss; }
    if ((P.n4 & 2u) != 0u) {
      let alpha = wq / s * P.f1;
      for (var k = 0u; k < c; k++) {
        let o = base + k * P.n2;
        let wqk = weights[k] * (keep * probs[o] + share);
        grad[o] = exp(logits[o] - m) * alpha - wqk * P.f1;
      }
    }
  }
  reduceLoss(loss, lid, wid.x + wid.y * nwg.x);
}`;

/** Binding kinds after the uniform at binding 0: 'r' read-only storage, 'w' read-write storage. */
export interface KernelSpec {
  code: string;
  bindings: string;
}

export type KernelName =
  | 'finite'
  | 'pool'
  | 'poolBack'
  | 'gather'
  | 'normalize'
  | 'normalizeBack'
  | 'gemm'
  | 'colsum'
  | 'meanLogit'
  | 'meanLogitBack'
  | 'ceIndex'
  | 'ceProbs'
  | `rowstats:${keyof typeof ROW_MODES & string}`
  | `weights:${keyof typeof WEIGHT_MODES & string}`;

export type RowStatsMode = keyof typeof ROW_MODES & string;
export type WeightsMode = keyof typeof WEIGHT_MODES & string;

/** The source and binding list of a kernel, built on first use. */
export function kernelSpec(name: KernelName): KernelSpec {
  const [family, mode] = name.split(':');
  switch (family) {
    case 'finite':
      return { code: FINITE, bindings: 'rw' };
    case 'pool':
      return { code: POOL, bindings: 'rrw' };
    case 'poolBack':
      return { code: POOL_BACK, bindings: 'rrw' };
    case 'gather':
      return { code: GATHER, bindings: 'rrw' };
    case 'normalize':
      return { code: NORMALIZE, bindings: 'ww' };
    case 'normalizeBack':
      return { code: NORMALIZE_BACK, bindings: 'rwr' };
    case 'gemm':
      return { code: GEMM, bindings: 'rrw' };
    case 'colsum':
      return { code: COLSUM, bindings: 'rrw' };
    case 'meanLogit':
      return { code: MEAN_LOGIT, bindings: 'rrw' };
    case 'meanLogitBack':
      return { code: MEAN_LOGIT_BACK, bindings: 'rrrrw' };
    case 'ceIndex':
      return { code: CE_INDEX, bindings: 'rrrwwww' };
    case 'ceProbs':
      return { code: CE_PROBS, bindings: 'rrrwwww' };
    case 'rowstats':
      return { code: rowStatsKernel(ROW_MODES[mode]), bindings: 'rrwr' };
    case 'weights':
      return { code: weightsKernel(WEIGHT_MODES[mode]), bindings: 'rrrrw' };
    default:
      throw new Error(`forgery-losses: unknown WebGPU kernel ${name}`);
  }
}
