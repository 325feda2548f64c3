// The shared tiled-similarity machinery of the contrastive losses (patch contrast, InfoNCE), as
// assembly/similarity.ts. Row matrices are `rows × C` (row-major, unpadded float32).
//
// - Row-statistic passes sweep a block of 32 rows of A against every row of B, 32×32 similarity
//   tiles built from 16-channel slices staged in workgroup memory, and reduce each row on the fly
//   (a running maximum, an online log-sum-exp, or two sums). Nothing N×N is ever stored.
// - Gradient-weight passes turn one strip of rows (at most the engine's strip budget) into weights
//   W = ∂loss/∂S · scale; GEMM then adds W·B to the gradient rows. The strip is bounded whatever
//   the image size.
// - Long float32 sums are two-level (a short inner sum flushed into an outer one), which keeps the
//   rounding error near √n·ε without relying on compensated arithmetic that compilers may fold.
//
// The losses' own row modes and weights are in patchContrast.ts and infoNCE.ts.

import { type BindingTable, defineKernel, type KernelDef, type ParamTable } from './kernel.js';

/** The parameters of a mode that has its own (none by default). */
type ExtraOf<M> = M extends { readonly params: infer X extends ParamTable } ? X : Record<never, never>;

// Threads (tx, ty) of a 16×16 workgroup own rows ty, ty+16 and columns tx, tx+16 of a 32×32 tile;
// channels are staged 16 at a time in workgroup memory. Needs bindings A and B.
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

/** A row-statistic pass of a loss. Stats rows are vec4 per row of A (their meaning is the loss's). */
export interface RowMode {
  kind: 'max' | 'lse' | 'sum';
  /** Initial running maximum (kind 'max'). */
  init?: string;
  /** fn term(i, j, s, ri: vec4f) -> vec2f: (value, 1 if it counts) or, for 'sum', (v1, v2). */
  term: string;
  /** fn finish(i, ri: vec4f, c: vec4f): c = (max) | (m, Σexp(x − m)) | (Σv1, Σv2). */
  finish: string;
  /** WGSL helpers that `term` and `finish` use. */
  helpers?: string;
  /** The mode's own parameters, after ROW_STATS_PARAMS. */
  params?: ParamTable;
}

/** What every row-statistic pass reads: `rows` rows of A, `cols` rows of B, C channels; s = a·b / t. */
const ROW_STATS_PARAMS = { rows: 'u32', cols: 'u32', c: 'u32', invT: 'f32' } as const;

/**
 * `colv` holds the stats of B's rows where a pass needs them (a copy, since `stats` is being
 * written); passes that do not need it bind any buffer there.
 */
const ROW_STATS_BINDINGS = {
  A: ['read', 'f32'],
  B: ['read', 'f32'],
  stats: ['read_write', 'vec4<f32>'],
  colv: ['read', 'vec4<f32>'],
} as const satisfies BindingTable;

type RowStatsKernel<X extends ParamTable> = KernelDef<typeof ROW_STATS_PARAMS & X, typeof ROW_STATS_BINDINGS>;

/** The row-statistic passes of a loss, named `rowstats:<mode>`. */
export function rowStatsKernels<const M extends Readonly<Record<string, RowMode>>>(
  modes: M,
): { [K in keyof M & string as `rowstats:${K}`]: RowStatsKernel<ExtraOf<M[K]>> } {
  const out: Record<string, KernelDef> = {};
  for (const [name, mode] of Object.entries(modes)) out[`rowstats:${name}`] = rowStatsKernel(`rowstats:${name}`, mode);
  return out as { [K in keyof M & string as `rowstats:${K}`]: RowStatsKernel<ExtraOf<M[K]>> };
}

/** A row-statistic pass: stats[i] for every row i of A, from s_ij against every row j of B. */
function rowStatsKernel(label: string, mode: RowMode): KernelDef {
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
  return defineKernel({
    label,
    params: { ...ROW_STATS_PARAMS, ...mode.params },
    bindings: ROW_STATS_BINDINGS,
    body: /* wgsl */ `${TILE}
${mode.helpers ?? ''}
var<workgroup> R: array<vec4<f32>, 512>;

fn term(i: u32, j: u32, s: f32, ri: vec4<f32>) -> vec2<f32> { ${mode.term} }
fn push(st: ptr<function, vec4<f32>>, v: vec2<f32>) { ${push} }
fn flush(st: ptr<function, vec4<f32>>) { ${flush} }
fn combine(base: u32) -> vec4<f32> { ${combine} }
fn finish(i: u32, ri: vec4<f32>, c: vec4<f32>) { ${mode.finish} }
fn rowStat(i: u32) -> vec4<f32> { if (i < P.rows) { return stats[i]; } return vec4<f32>(0.0); }

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
  let tiles = (P.cols + TR - 1u) / TR;
  for (var tile = 0u; tile < tiles; tile++) {
    let j0 = tile * TR;
    let d = tileDots(rowBase, P.rows, j0, P.cols, P.c, tx, ty) * P.invT;
    let ja = j0 + tx;
    let jb = ja + 16u;
    if (i0 < P.rows) {
      if (ja < P.cols) { push(&s0, term(i0, ja, d.x, r0)); }
      if (jb < P.cols) { push(&s0, term(i0, jb, d.y, r0)); }
    }
    if (i1 < P.rows) {
      if (ja < P.cols) { push(&s1, term(i1, ja, d.z, r1)); }
      if (jb < P.cols) { push(&s1, term(i1, jb, d.w, r1)); }
    }
    if ((tile & 31u) == 31u) { flush(&s0); flush(&s1); }
  }
  flush(&s0);
  flush(&s1);
  R[ty * 16u + tx] = s0;
  R[(ty + 16u) * 16u + tx] = s1;
  workgroupBarrier();
  if (tx == 0u) {
    if (i0 < P.rows) { finish(i0, r0, combine(ty * 16u)); }
    if (i1 < P.rows) { finish(i1, r1, combine((ty + 16u) * 16u)); }
  }
}`,
  });
}

/**
 * What every gradient-weight pass reads: `rows` rows of A, `cols` rows of B, C channels, the strip
 * of rows rowStart ≤ i < rowStart + stripRows; s = a·b / t, and the weights are scaled by `scale`.
 */
const WEIGHTS_PARAMS = {
  rows: 'u32',
  cols: 'u32',
  c: 'u32',
  rowStart: 'u32',
  stripRows: 'u32',
  invT: 'f32',
  scale: 'f32',
} as const;

/** rs/cs: the stats of A's and B's rows; W: the strip. */
const WEIGHTS_BINDINGS = {
  A: ['read', 'f32'],
  B: ['read', 'f32'],
  rs: ['read', 'vec4<f32>'],
  cs: ['read', 'vec4<f32>'],
  W: ['read_write', 'f32'],
} as const satisfies BindingTable;

/** A loss's gradient weight of the pair (i, j): `body` of fn weight(i, j, s) -> f32, and its helpers. */
export interface WeightMode {
  body: string;
  helpers?: string;
  /** The mode's own parameters, after WEIGHTS_PARAMS. */
  params?: ParamTable;
}

type WeightsKernel<X extends ParamTable> = KernelDef<typeof WEIGHTS_PARAMS & X, typeof WEIGHTS_BINDINGS>;

/** The gradient-weight passes of a loss, named `weights:<mode>`. */
export function weightsKernels<const M extends Readonly<Record<string, WeightMode>>>(
  modes: M,
): { [K in keyof M & string as `weights:${K}`]: WeightsKernel<ExtraOf<M[K]>> } {
  const out: Record<string, KernelDef> = {};
  for (const [name, mode] of Object.entries(modes)) out[`weights:${name}`] = weightsKernel(`weights:${name}`, mode);
  return out as { [K in keyof M & string as `weights:${K}`]: WeightsKernel<ExtraOf<M[K]>> };
}

/**
 * Gradient-weight strips: W[i − rowStart][j] = weight(i, j, s_ij) · scale for the strip's rows i of
 * A and every row j of B.
 */
function weightsKernel(label: string, mode: WeightMode): KernelDef {
  return defineKernel({
    label,
    params: { ...WEIGHTS_PARAMS, ...mode.params },
    bindings: WEIGHTS_BINDINGS,
    body: /* wgsl */ `${TILE}
${mode.helpers ?? ''}
fn weight(i: u32, j: u32, s: f32) -> f32 { ${mode.body} }

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let rowBase = P.rowStart + wid.y * TR;
  let rowEnd = min(P.rows, P.rowStart + P.stripRows);
  let j0 = wid.x * TR;
  let d = tileDots(rowBase, rowEnd, j0, P.cols, P.c, tx, ty) * P.invT;
  let i0 = rowBase + ty;
  let i1 = i0 + 16u;
  let ja = j0 + tx;
  let jb = ja + 16u;
  if (i0 < rowEnd) {
    if (ja < P.cols) { W[(i0 - P.rowStart) * P.cols + ja] = weight(i0, ja, d.x) * P.scale; }
    if (jb < P.cols) { W[(i0 - P.rowStart) * P.cols + jb] = weight(i0, jb, d.y) * P.scale; }
  }
  if (i1 < rowEnd) {
    if (ja < P.cols) { W[(i1 - P.rowStart) * P.cols + ja] = weight(i1, ja, d.z) * P.scale; }
    if (jb < P.cols) { W[(i1 - P.rowStart) * P.cols + jb] = weight(i1, jb, d.w) * P.scale; }
  }
}`,
  });
}

/**
 * outRows[rowStart + r][c] = (accumulate ? outRows : 0) + Σ_j W[r][j] · B[j][c] for the `rows` rows
 * of a strip; `inner` = columns of W (rows of B). 32×32 output tiles, j staged 16 at a time.
 */
export const GEMM = defineKernel({
  label: 'gemm',
  params: { rows: 'u32', inner: 'u32', c: 'u32', rowStart: 'u32', accumulate: 'u32' },
  bindings: { W: ['read', 'f32'], B: ['read', 'f32'], outRows: ['read_write', 'f32'] },
  body: /* wgsl */ `
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
  for (var j0 = 0u; j0 < P.inner; j0 += 16u) {
    for (var q = 0u; q < 2u; q++) {
      let e = t + q * 256u;
      let r = r0 + e / 16u;
      let j = j0 + e % 16u;
      var w = 0.0;
      if (r < P.rows && j < P.inner) { w = W[r * P.inner + j]; }
      Ws[e] = w;
      let jj = j0 + e / 32u;
      let c = c0 + e % 32u;
      var b = 0.0;
      if (jj < P.inner && c < P.c) { b = B[jj * P.c + c]; }
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
  let keep = P.accumulate != 0u;
  if (ra < P.rows) {
    if (ca < P.c) { let o = (P.rowStart + ra) * P.c + ca; outRows[o] = acc.x + select(0.0, outRows[o], keep); }
    if (cb < P.c) { let o = (P.rowStart + ra) * P.c + cb; outRows[o] = acc.y + select(0.0, outRows[o], keep); }
  }
  if (rb < P.rows) {
    if (ca < P.c) { let o = (P.rowStart + rb) * P.c + ca; outRows[o] = acc.z + select(0.0, outRows[o], keep); }
    if (cb < P.c) { let o = (P.rowStart + rb) * P.c + cb; outRows[o] = acc.w + select(0.0, outRows[o], keep); }
  }
}`,
});
