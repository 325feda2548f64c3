// One infoNCE image on the GPU: the queries U and negatives X gathered (channel slice by slice) and
// normalized, the positive term (mean-exp's query LSE, or mean-logit's column sum), the negatives'
// row statistics; with a gradient dU = W·X (+ the query pairs' or mean-logit's term), dX = Wᵀ·U
// from strips, both back through the normalization; one read-back, then the scatter.

import { POSITIVE_MEAN_EXP } from '../codes.js';
import type { InfoNCEImage, InfoNCEJob } from '../runtime/schedule/jobs.js';
import { type Binding, type GpuRuntime, Recorder } from './device.js';
import type { KernelName } from './shaders/index.js';
import { channelsPerSlice, groups, inStrips, stripRows, uploadSlices } from './slices.js';

type Kernels = Awaited<ReturnType<GpuRuntime['kernelsFor']>>;

/** What the stages of one image share. */
interface Image {
  rt: GpuRuntime;
  job: InfoNCEJob;
  k: Kernels;
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

function kernelNames(meanExp: boolean, grad: boolean): KernelName[] {
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

async function setUp(rt: GpuRuntime, job: InfoNCEJob): Promise<Image> {
  const { c } = job;
  const j = job.queries.length,
    m = job.negatives.length;
  const meanExp = job.positive === POSITIVE_MEAN_EXP;
  rt.checkBinding(Math.max(j, m) * c * 4, `infoNCE's ${Math.max(j, m)} × ${c} pixel rows`);
  const k = await rt.kernelsFor(kernelNames(meanExp, job.grad));
  return {
    ...{ rt, job, k, rec: rt.recorder(), j, m, meanExp, invT: Math.fround(1 / job.temperature) },
    u: rt.storage('rowsA', j * c * 4),
    x: rt.storage('rowsB', m * c * 4),
    normsU: rt.storage('normsA', j * 4),
    normsX: rt.storage('normsB', m * 4),
    stats: rt.storage('stats', j * 16),
    sumU: rt.storage('sumU', c * 4),
    dummy: rt.storage('dummy', 16),
  };
}

/** U and X gathered slice by slice and normalized; ℓ0 and the negatives' row statistics. */
function forward(s: Image): void {
  const { rt, job, k, rec, j, m, u, x, stats } = s;
  const { c, hw } = job;
  const perSlice = channelsPerSlice(rt, c, hw);
  const feat = rt.storage('feat', perSlice * hw * 4);
  const qIdx = rt.storage('queries', j * 4),
    kIdx = rt.storage('negatives', m * 4);
  rec.write(qIdx, 0, new Uint32Array(job.queries.buffer, job.queries.byteOffset, j));
  rec.write(kIdx, 0, new Uint32Array(job.negatives.buffer, job.negatives.byteOffset, m));
  uploadSlices(rec, feat, job.features, [c, hw, perSlice], (c0, cn) => {
    const slice = { c, hw, cOff: c0, sliceC: cn };
    rec.dispatch(k.gather, { feat, idx: qIdx, outRows: u }, { rows: j, ...slice }, ...Recorder.grid(j * cn));
    rec.dispatch(k.gather, { feat, idx: kIdx, outRows: x }, { rows: m, ...slice }, ...Recorder.grid(m * cn));
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

/** One strip's weights (`weights` over rows A against B) and their GEMM into `out` rows. */
function weighStrip(s: Image, name: KernelName & `weights:${string}`, i0: number, r: number, op: StripOp): void {
  const { k, rec } = s;
  const c = s.job.c;
  const params = { rows: op.rows, cols: op.cols, c, rowStart: i0, stripRows: r, invT: s.invT, scale: op.scale };
  rec.dispatch(k[name], { A: op.a, B: op.b, rs: op.rs, cs: op.cs, W: op.strip }, params, groups(op.cols), groups(r));
  const gemm = { rows: r, inner: op.cols, c, rowStart: i0, accumulate: op.accumulate };
  rec.dispatch(k.gemm, { W: op.strip, B: op.b, outRows: op.out }, gemm, groups(c), groups(r));
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

/** dU and dX, back through the normalization. */
function backward(s: Image): { du: Binding; dx: Binding } {
  const { rt, job, k, rec, j, m, u, x, stats, dummy } = s;
  const c = job.c;
  const stripSize = Math.max(stripRows(rt, j, m) * m, stripRows(rt, m, j) * j, s.meanExp ? stripRows(rt, j, j) * j : 0);
  const strip = rt.storage('strip', stripSize * 4);
  const du = rt.storage('gradA', j * c * 4),
    dx = rt.storage('gradB', m * c * 4);
  const scale = Math.fround(Math.fround(job.gradScale) * s.invT);
  // Queries × negatives: du = W·X, then dx = Wᵀ·U from strips over the negatives' rows.
  const negRows = { rows: j, cols: m, a: u, b: x, rs: stats, cs: dummy, strip, out: du, scale, accumulate: 0 };
  inStrips(rt, j, m, (i0, r) => weighStrip(s, 'weights:nceNegRows', i0, r, negRows));
  if (s.meanExp) {
    const pairs = { rows: j, cols: j, a: u, b: u, rs: stats, cs: stats, strip, out: du, scale: s.invT, accumulate: 1 };
    inStrips(rt, j, j, (i0, r) => weighStrip(s, 'weights:nceQueryPairs', i0, r, pairs));
  } else {
    const sumW = rt.storage('sumW', c * 4);
    rec.dispatch(k.colsum, { U: u, stats, outSum: sumW }, { rows: j, c, weighted: 1 }, ...Recorder.grid(c));
    const back = { rows: j, c, scale: Math.fround(s.invT / Math.fround(j - 1)) };
    rec.dispatch(k.meanLogitBack, { U: u, S: s.sumU, T: sumW, stats, dU: du }, back, ...Recorder.grid(j * c));
  }
  const negCols = { rows: m, cols: j, a: x, b: u, rs: dummy, cs: stats, strip, out: dx, scale, accumulate: 0 };
  inStrips(rt, m, j, (i0, r) => weighStrip(s, 'weights:nceNegCols', i0, r, negCols));
  rec.dispatch(k.normalizeBack, { z: u, g: du, norms: s.normsU }, { rows: j, c }, ...Recorder.grid(j));
  rec.dispatch(k.normalizeBack, { z: x, g: dx, norms: s.normsX }, { rows: m, c }, ...Recorder.grid(m));
  return { du, dx };
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

export async function infoNCEJob(rt: GpuRuntime, job: InfoNCEJob): Promise<InfoNCEImage> {
  // A skipped image: its features were checked when the call was made, as on every backend.
  if (!job.used) return { loss: null };
  const s = await setUp(rt, job);
  forward(s);
  const parts = [{ src: s.stats.buffer, size: s.j * 16 }];
  if (job.grad) {
    const { du, dx } = backward(s);
    parts.push({ src: du.buffer, size: s.j * job.c * 4 }, { src: dx.buffer, size: s.m * job.c * 4 });
  }
  const [statsOut, duOut, dxOut] = await rt.read(s.rec, parts);
  const st = new Float32Array(statsOut);
  const perQuery = new Float32Array(s.j);
  let total = 0;
  for (let a = 0; a < s.j; a++) {
    perQuery[a] = st[a * 4 + 2] - st[a * 4];
    total += perQuery[a];
  }
  const result: InfoNCEImage = { loss: total / s.j, perQuery };
  if (job.grad) result.grad = scatter(job, duOut, dxOut);
  return result;
}
