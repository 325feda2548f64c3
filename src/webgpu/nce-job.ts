// One infoNCE image on the GPU: the queries U and negatives X gathered (channel slice by slice) and
// normalized, the positive term (mean-exp's query LSE, or mean-logit's column sum), the negatives'
// row statistics; with a gradient dU = W·X (+ the query pairs' or mean-logit's term), dX = Wᵀ·U
// from strips, both back through the normalization. An async job reads them back and scatters the
// rows on the CPU; a sync call on the device scatters them there (resident/nce.ts).

import { POSITIVE_MEAN_EXP } from '../codes.js';
import type { InfoNCEImage, InfoNCEJob } from '../runtime/schedule/jobs.js';
import type { CompiledKernels } from './kernels.js';
import type { Binding, Lane } from './lane.js';
import { Recorder } from './recorder.js';
import type { GpuSession } from './session.js';
import type { KernelName } from './shaders/index.js';
import { channelsPerSlice, groups, type ImageSource, inStrips, stripRows, uploadSlices } from './slices.js';

/** What one dictionary's passes need (an infoNCE job, its features aside). */
export type NceImage = Pick<
  InfoNCEJob,
  'c' | 'hw' | 'queries' | 'negatives' | 'temperature' | 'positive' | 'gradScale' | 'grad'
>;

/** What the stages of one image share. */
interface Image {
  lane: Lane;
  job: NceImage;
  k: CompiledKernels;
  rec: Recorder;
  j: number;
  m: number;
  meanExp: boolean;
  invT: number;
  u: Binding;
  x: Binding;
  normsU: Binding;
  normsX: Binding;
  stats: Binding;
  sumU: Binding;
  dummy: Binding;
}

/** The kernels a dictionary with `positive` needs. */
export function nceKernels(positive: number, grad: boolean): KernelName[] {
  const meanExp = positive === POSITIVE_MEAN_EXP;
  const names: KernelName[] = [
    'gather',
    'normalize',
    'rowstats:nceNegLse',
    ...(meanExp ? (['rowstats:nceQueryLse'] as const) : (['colsum', 'meanLogit'] as const)),
  ];
  if (grad)
    names.push(
      'weights:nceNegRows',
      'weights:nceNegCols',
      'gemm',
      'normalizeBack',
      ...(meanExp ? (['weights:nceQueryPairs'] as const) : (['meanLogitBack'] as const)),
    );
  return names;
}

function setUp(lane: Lane, k: CompiledKernels, rec: Recorder, job: NceImage): Image {
  const { c } = job;
  const j = job.queries.length,
    m = job.negatives.length;
  lane.checkBinding(Math.max(j, m) * c * 4, `infoNCE's ${Math.max(j, m)} × ${c} pixel rows`);
  return {
    ...{ lane, job, k, rec, j, m, meanExp: job.positive === POSITIVE_MEAN_EXP, invT: Math.fround(1 / job.temperature) },
    u: lane.storage('rowsA', j * c * 4),
    x: lane.storage('rowsB', m * c * 4),
    normsU: lane.storage('normsA', j * 4),
    normsX: lane.storage('normsB', m * 4),
    stats: lane.storage('stats', j * 16),
    sumU: lane.storage('sumU', c * 4),
    dummy: lane.storage('dummy', 16),
  };
}

/** U and X gathered slice by slice and normalized; ℓ0 and the negatives' row statistics. */
function forward(s: Image, image: ImageSource, idx: { queries: Binding; negatives: Binding }): void {
  const { lane, job, k, rec, j, m, u, x, stats } = s;
  const { c, hw } = job;
  const perSlice = channelsPerSlice(lane, c, hw);
  const feat = lane.storage('feat', perSlice * hw * 4);
  uploadSlices(rec, feat, image, [c, hw, perSlice], (c0, cn) => {
    const slice = { c, hw, cOff: c0, sliceC: cn };
    rec.dispatch(k.gather, { feat, idx: idx.queries, outRows: u }, { rows: j, ...slice }, ...Recorder.grid(j * cn));
    rec.dispatch(k.gather, { feat, idx: idx.negatives, outRows: x }, { rows: m, ...slice }, ...Recorder.grid(m * cn));
  });
  rec.dispatch(k.normalize, { m: u, norms: s.normsU }, { rows: j, c }, ...Recorder.grid(j));
  rec.dispatch(k.normalize, { m: x, norms: s.normsX }, { rows: m, c }, ...Recorder.grid(m));
  const rows = { rows: j, cols: j, c, invT: s.invT, logOthers: Math.log(j - 1) };
  if (s.meanExp) rec.dispatch(k['rowstats:nceQueryLse'], { A: u, B: u, stats, colv: s.dummy }, rows, groups(j));
  else {
    rec.dispatch(k.colsum, { U: u, stats, outSum: s.sumU }, { rows: j, c, weighted: 0 }, ...Recorder.grid(c));
    const ml = { rows: j, c, invT: s.invT, others: j - 1 };
    rec.dispatch(k.meanLogit, { U: u, S: s.sumU, stats }, ml, ...Recorder.grid(j));
  }
  const neg = { rows: j, cols: m, c, invT: s.invT, gradScale: Math.fround(job.gradScale) };
  rec.dispatch(k['rowstats:nceNegLse'], { A: u, B: x, stats, colv: s.dummy }, neg, groups(j));
}

interface StripOp {
  rows: number;
  cols: number;
  a: Binding;
  b: Binding;
  rs: Binding;
  cs: Binding;
  strip: Binding;
  out: Binding;
  scale: number;
  accumulate: number;
}

/** One strip's weights (`weights` over rows A against B) and their GEMM into `out` rows. */
function weighStrip(s: Image, name: KernelName & `weights:${string}`, i0: number, r: number, op: StripOp): void {
  const { k, rec } = s;
  const c = s.job.c;
  const params = { rows: op.rows, cols: op.cols, c, rowStart: i0, stripRows: r, invT: s.invT, scale: op.scale };
  rec.dispatch(k[name], { A: op.a, B: op.b, rs: op.rs, cs: op.cs, W: op.strip }, params, groups(op.cols), groups(r));
  const gemm = { rows: r, inner: op.cols, c, rowStart: i0, accumulate: op.accumulate };
  rec.dispatch(k.gemm, { W: op.strip, B: op.b, outRows: op.out }, gemm, groups(c), groups(r));
}

/** dU and dX, back through the normalization. */
function backward(s: Image): { du: Binding; dx: Binding } {
  const { lane, job, k, rec, j, m, u, x, stats, dummy } = s;
  const c = job.c;
  const stripSize = Math.max(
    stripRows(lane, j, m) * m,
    stripRows(lane, m, j) * j,
    s.meanExp ? stripRows(lane, j, j) * j : 0,
  );
  const strip = lane.storage('strip', stripSize * 4);
  const du = lane.storage('gradA', j * c * 4),
    dx = lane.storage('gradB', m * c * 4);
  const scale = Math.fround(Math.fround(job.gradScale) * s.invT);
  // Queries × negatives: du = W·X, then dx = Wᵀ·U from strips over the negatives' rows.
  const negRows = { rows: j, cols: m, a: u, b: x, rs: stats, cs: dummy, strip, out: du, scale, accumulate: 0 };
  inStrips(lane, j, m, (i0, r) => weighStrip(s, 'weights:nceNegRows', i0, r, negRows));
  if (s.meanExp) {
    const pairs = { rows: j, cols: j, a: u, b: u, rs: stats, cs: stats, strip, out: du, scale: s.invT, accumulate: 1 };
    inStrips(lane, j, j, (i0, r) => weighStrip(s, 'weights:nceQueryPairs', i0, r, pairs));
  } else {
    const sumW = lane.storage('sumW', c * 4);
    rec.dispatch(k.colsum, { U: u, stats, outSum: sumW }, { rows: j, c, weighted: 1 }, ...Recorder.grid(c));
    const back = { rows: j, c, scale: Math.fround(s.invT / Math.fround(j - 1)) };
    rec.dispatch(k.meanLogitBack, { U: u, S: s.sumU, T: sumW, stats, dU: du }, back, ...Recorder.grid(j * c));
  }
  const negCols = { rows: m, cols: j, a: x, b: u, rs: dummy, cs: stats, strip, out: dx, scale, accumulate: 0 };
  inStrips(lane, m, j, (i0, r) => weighStrip(s, 'weights:nceNegCols', i0, r, negCols));
  rec.dispatch(k.normalizeBack, { z: u, g: du, norms: s.normsU }, { rows: j, c }, ...Recorder.grid(j));
  rec.dispatch(k.normalizeBack, { z: x, g: dx, norms: s.normsX }, { rows: m, c }, ...Recorder.grid(m));
  return { du, dx };
}

/** One dictionary's passes, recorded: per query ℓ0 in stats[4a] and the LSE in stats[4a + 2]; the gradient rows. */
export interface EncodedNceImage {
  j: number;
  m: number;
  stats: Binding;
  /** The pixel index lists, as bound. */
  idx: { queries: Binding; negatives: Binding };
  rows?: { du: Binding; dx: Binding };
}

export function encodeNceImage(
  lane: Lane,
  k: CompiledKernels,
  rec: Recorder,
  job: NceImage,
  image: ImageSource,
): EncodedNceImage {
  const s = setUp(lane, k, rec, job);
  const idx = { queries: lane.storage('queries', s.j * 4), negatives: lane.storage('negatives', s.m * 4) };
  rec.write(idx.queries, 0, new Uint32Array(job.queries.buffer, job.queries.byteOffset, s.j));
  rec.write(idx.negatives, 0, new Uint32Array(job.negatives.buffer, job.negatives.byteOffset, s.m));
  forward(s, image, idx);
  return { j: s.j, m: s.m, stats: s.stats, idx, rows: job.grad ? backward(s) : undefined };
}

/** The gradient of the image: each query's and negative's row at its pixel (every other pixel 0). */
function scatter(job: InfoNCEJob, du: ArrayBuffer, dx: ArrayBuffer): Float32Array {
  const { c, hw } = job;
  const grad = new Float32Array(c * hw);
  const put = (rows: Float32Array, idx: Int32Array) => {
    for (let r = 0; r < idx.length; r++) for (let ch = 0; ch < c; ch++) grad[ch * hw + idx[r]] = rows[r * c + ch];
  };
  put(new Float32Array(du), job.queries);
  put(new Float32Array(dx), job.negatives);
  return grad;
}

export async function infoNCEJob(session: GpuSession, job: InfoNCEJob): Promise<InfoNCEImage> {
  // A skipped image: its features were checked when the call was made, as on every backend.
  if (!job.used) return { loss: null };
  const k = await session.kernels.load(nceKernels(job.positive, job.grad));
  const rec = session.lane.recorder();
  const { e, parts } = session.encode(() => {
    const e = encodeNceImage(session.lane, k, rec, job, { src: { kind: 'host', values: job.features }, first: 0 });
    const parts = [{ src: e.stats.buffer, size: e.j * 16 }];
    if (e.rows)
      parts.push({ src: e.rows.du.buffer, size: e.j * job.c * 4 }, { src: e.rows.dx.buffer, size: e.m * job.c * 4 });
    return { e, parts };
  });
  const [statsOut, duOut, dxOut] = await session.read(rec, parts);
  const st = new Float32Array(statsOut);
  const perQuery = new Float32Array(e.j);
  let total = 0;
  for (let a = 0; a < e.j; a++) {
    perQuery[a] = st[a * 4 + 2] - st[a * 4];
    total += perQuery[a];
  }
  const result: InfoNCEImage = { loss: total / e.j, perQuery };
  if (job.grad) result.grad = scatter(job, duOut, dxOut);
  return result;
}
