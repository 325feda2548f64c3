// The WebGPU executor: runs the same per-image jobs as the wasm executors (patch contrast and
// InfoNCE, src/runtime/jobs.ts) and the cross-entropy of a whole call, on one GPU device.
// Jobs run one at a time (they share the device's cached buffers); each is a few submissions and
// one read-back. Inputs larger than the slice budget are split by channel slices (features) or
// pixel ranges (logits); the similarity work goes through strips within the strip budget
// (GpuRuntime.budgets, both also capped by maxStorageBufferBindingSize).

import { POSITIVE_MEAN_EXP, VARIANT_CFLNET } from '../codes.js';
import type { CallControl } from '../runtime/control.js';
import type { Executor } from '../runtime/executors/executor.js';
import {
  type ImageJob,
  type ImageResultOf,
  type InfoNCEImage,
  type InfoNCEJob,
  jobWork,
  type PatchContrastImage,
  type PatchContrastJob,
} from '../runtime/schedule/jobs.js';
import { rowMap } from '../runtime/wasm/layout.js';
import type { CrossEntropySums, CrossEntropyTask } from '../runtime/wasm/protocol.js';
import { reportNonFinite } from '../validate.js';
import { type Binding, type GpuRuntime, Recorder, WebGpuError } from './device.js';
import type { KernelName } from './shaders/index.js';

const TILE = 32;
/** The cross-entropy kernels' 'no bad value' index. */
const NONE = 0xffffffff;
const BAD_INIT = new Uint32Array([NONE, NONE, 0, 0]);

export class WebGpuExecutor implements Executor {
  readonly threads = 1;
  readonly syncThreads = 1;

  constructor(readonly runtime: GpuRuntime) {}

  runJobs<J extends ImageJob>(jobs: J[], control: CallControl): Promise<ImageResultOf<J>[]> {
    // A job's kind decides its result's type (schedule/jobs.ts ImageResultOf).
    return Promise.all(jobs.map((job) => this.#run(job, control) as Promise<ImageResultOf<J>>));
  }

  /** A job runs whole on the GPU (its submissions do not block the thread); a stopped call skips it. */
  #run(job: ImageJob, control: CallControl): Promise<PatchContrastImage | InfoNCEImage> {
    return new Promise((resolve, reject) => {
      control.onStop(reject);
      this.runtime
        .exclusive(() => {
          control.throwIfStopped();
          return job.kind === 'patchContrast' ? patchContrastJob(this.runtime, job) : infoNCEJob(this.runtime, job);
        })
        .then((result) => {
          control.advance(jobWork(job));
          resolve(result);
        }, reject);
    });
  }

  crossEntropy(p: CrossEntropyTask, gradScale: number): Promise<CrossEntropySums> {
    return this.runtime.exclusive(() => crossEntropyJob(this.runtime, p, gradScale));
  }

  async dispose(): Promise<void> {
    await this.runtime.dispose();
  }
}

const groups = (n: number) => Math.max(1, Math.ceil(n / TILE));

/** Channels per uploaded slice of a C × H·W image (each slice within the binding limit). */
function channelsPerSlice(rt: GpuRuntime, c: number, hw: number): number {
  const budget = Math.min(rt.budgets.slice, rt.limits.maxBinding);
  rt.checkBinding(hw * 4, `one ${hw}-pixel channel plane`);
  return Math.max(1, Math.min(c, Math.floor(budget / (hw * 4))));
}

/** Rows per gradient-weight strip against `cols` columns (a multiple of the tile). */
function stripRows(rt: GpuRuntime, rows: number, cols: number): number {
  const budget = Math.min(rt.budgets.strip, rt.limits.maxBinding);
  const fit = Math.floor(budget / (cols * 4) / TILE) * TILE;
  if (fit < TILE) rt.checkBinding(TILE * cols * 4, `a ${TILE}-row strip of ${cols} similarities`);
  return Math.max(TILE, Math.min(fit, groups(rows) * TILE));
}

/** Uploads each channel slice of an image and runs `each` on it. */
function uploadSlices(
  rec: Recorder,
  feat: Binding,
  features: Float32Array,
  c: number,
  hw: number,
  perSlice: number,
  each: (c0: number, cn: number) => void,
): void {
  for (let c0 = 0; c0 < c; c0 += perSlice) {
    const cn = Math.min(perSlice, c - c0);
    rec.write(feat, 0, features.subarray(c0 * hw, (c0 + cn) * hw));
    each(c0, cn);
  }
}

async function patchContrastJob(rt: GpuRuntime, job: PatchContrastJob): Promise<PatchContrastImage> {
  const { c, h, w, patchSize: p } = job;
  const kh = h / p,
    kw = w / p,
    n = kh * kw,
    hw = h * w;
  // The class-sorted rows of the job's labels, unpadded (the shaders bound each class by P).
  const labels = job.labels;
  const { rowOf: rows32, pristine: p0 } = rowMap(labels, 1);
  const rowOf = new Uint32Array(rows32.buffer),
    patchOf = new Uint32Array(n);
  for (let k = 0; k < n; k++) patchOf[rowOf[k]] = k;
  const cflnet = job.variant === VARIANT_CFLNET;
  const invT = Math.fround(1 / job.temperature);
  const weightScale = Math.fround(Math.fround(job.gradScale) * invT);
  rt.checkBinding(n * c * 4, `patchContrast's ${n} × ${c} patch matrix`);
  const perSlice = channelsPerSlice(rt, c, hw);
  const rows = stripRows(rt, n, n);
  const names: KernelName[] = [
    'pool',
    'normalize',
    ...(cflnet
      ? (['rowstats:pcColmax', 'rowstats:pcCflD', 'rowstats:pcCflPos'] as const)
      : (['rowstats:pcExactLse', 'rowstats:pcExactPos'] as const)),
  ];
  if (job.grad) names.push(cflnet ? 'weights:pcCflnet' : 'weights:pcExact', 'gemm', 'normalizeBack', 'poolBack');
  const k = await rt.kernelsFor(names);
  const feat = rt.storage('feat', perSlice * hw * 4);
  const z = rt.storage('rowsA', n * c * 4),
    norms = rt.storage('normsA', n * 4);
  const stats = rt.storage('stats', n * 16),
    statsCopy = rt.storage('statsCopy', n * 16);
  const patchOfBuf = rt.storage('patchOf', n * 4),
    rowOfBuf = rt.storage('rowOf', n * 4);
  const rec = rt.recorder();
  rec.write(patchOfBuf, 0, patchOf);
  rec.write(rowOfBuf, 0, rowOf);
  const invArea = Math.fround(1 / (p * p));
  uploadSlices(rec, feat, job.features, c, hw, perSlice, (c0, cn) => {
    rec.dispatch(
      k.pool,
      { feat, patchOf: patchOfBuf, z },
      { rows: n, sliceC: cn, c, w, h, patchSize: p, kw, cOff: c0, invArea },
      ...Recorder.grid(n * cn),
    );
  });
  rec.dispatch(k.normalize, { m: z, norms }, { rows: n, c }, ...Recorder.grid(n));
  const rowPass = (name: KernelName & `rowstats:pc${string}`, colv: Binding) =>
    rec.dispatch(k[name], { A: z, B: z, stats, colv }, { rows: n, cols: n, c, p0, invT }, groups(n));
  if (cflnet) {
    rowPass('rowstats:pcColmax', statsCopy);
    rec.copy(stats.buffer, 0, statsCopy.buffer, 0, n * 16);
    rowPass('rowstats:pcCflD', statsCopy);
    rowPass('rowstats:pcCflPos', statsCopy);
  } else {
    rowPass('rowstats:pcExactLse', statsCopy);
    rowPass('rowstats:pcExactPos', statsCopy);
  }
  const grad = job.grad ? new Float32Array(c * hw) : undefined;
  const dz = rt.storage('gradA', grad ? n * c * 4 : 4);
  const gradSlice = rt.storage('gradSlice', grad ? perSlice * hw * 4 : 4);
  const poolBack = (c0: number, cn: number) => {
    rec.dispatch(
      k.poolBack,
      { dz, rowOf: rowOfBuf, g: gradSlice },
      { count: cn * hw, c, w, h, patchSize: p, kw, cOff: c0, invArea },
      ...Recorder.grid(cn * hw),
    );
  };
  if (grad) {
    const strip = rt.storage('strip', rows * n * 4);
    const weights = k[cflnet ? 'weights:pcCflnet' : 'weights:pcExact'];
    for (let i0 = 0; i0 < n; i0 += rows) {
      const r = Math.min(rows, n - i0);
      rec.dispatch(
        weights,
        { A: z, B: z, rs: stats, cs: stats, W: strip },
        { rows: n, cols: n, c, rowStart: i0, stripRows: r, invT, scale: weightScale, p0 },
        groups(n),
        groups(r),
      );
      rec.dispatch(
        k.gemm,
        { W: strip, B: z, outRows: dz },
        { rows: r, inner: n, c, rowStart: i0, accumulate: 0 },
        groups(c),
        groups(r),
      );
    }
    rec.dispatch(k.normalizeBack, { z, g: dz, norms }, { rows: n, c }, ...Recorder.grid(n));
    poolBack(0, Math.min(perSlice, c));
  }
  const parts = [{ src: stats.buffer, size: n * 16 }];
  if (grad) parts.push({ src: gradSlice.buffer, size: Math.min(perSlice, c) * hw * 4 });
  const [statsOut, firstSlice] = await rt.read(rec, parts);
  const st = new Float32Array(statsOut);
  const perPatch = new Float32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    perPatch[patchOf[i]] = st[i * 4 + 2];
    total += st[i * 4 + 2];
  }
  const result: PatchContrastImage = { loss: total / n, perPatch, labels };
  if (grad) {
    grad.set(new Float32Array(firstSlice), 0);
    for (let c0 = perSlice; c0 < c; c0 += perSlice) {
      const cn = Math.min(perSlice, c - c0);
      poolBack(c0, cn);
      const [slice] = await rt.read(rec, [{ src: gradSlice.buffer, size: cn * hw * 4 }]);
      grad.set(new Float32Array(slice), c0 * hw);
    }
    result.grad = grad;
  }
  return result;
}

async function infoNCEJob(rt: GpuRuntime, job: InfoNCEJob): Promise<InfoNCEImage> {
  // A skipped image: its features were checked when the call was made, as on every backend.
  if (!job.used) return { loss: null };
  const { c, hw } = job;
  const j = job.queries.length,
    m = job.negatives.length;
  const meanExp = job.positive === POSITIVE_MEAN_EXP;
  const invT = Math.fround(1 / job.temperature);
  const gradScale = Math.fround(job.gradScale);
  const weightScale = Math.fround(gradScale * invT);
  rt.checkBinding(Math.max(j, m) * c * 4, `infoNCE's ${Math.max(j, m)} × ${c} pixel rows`);
  const perSlice = channelsPerSlice(rt, c, hw);
  const names: KernelName[] = [
    'gather',
    'normalize',
    'rowstats:nceNegLse',
    ...(meanExp ? (['rowstats:nceQueryLse'] as const) : (['colsum', 'meanLogit'] as const)),
  ];
  if (job.grad)
    names.push(
      'weights:nceNegRows',
      'weights:nceNegCols',
      'gemm',
      'normalizeBack',
      ...(meanExp ? (['weights:nceQueryPairs'] as const) : (['meanLogitBack'] as const)),
    );
  const k = await rt.kernelsFor(names);
  const feat = rt.storage('feat', perSlice * hw * 4),
    dummy = rt.storage('dummy', 16);
  const qIdx = rt.storage('queries', j * 4),
    kIdx = rt.storage('negatives', m * 4);
  const u = rt.storage('rowsA', j * c * 4),
    x = rt.storage('rowsB', m * c * 4);
  const normsU = rt.storage('normsA', j * 4),
    normsX = rt.storage('normsB', m * 4);
  const stats = rt.storage('stats', j * 16),
    sumU = rt.storage('sumU', c * 4);
  const rec = rt.recorder();
  rec.write(qIdx, 0, new Uint32Array(job.queries.buffer, job.queries.byteOffset, j));
  rec.write(kIdx, 0, new Uint32Array(job.negatives.buffer, job.negatives.byteOffset, m));
  uploadSlices(rec, feat, job.features, c, hw, perSlice, (c0, cn) => {
    const slice = { c, hw, cOff: c0, sliceC: cn };
    rec.dispatch(k.gather, { feat, idx: qIdx, outRows: u }, { rows: j, ...slice }, ...Recorder.grid(j * cn));
    rec.dispatch(k.gather, { feat, idx: kIdx, outRows: x }, { rows: m, ...slice }, ...Recorder.grid(m * cn));
  });
  rec.dispatch(k.normalize, { m: u, norms: normsU }, { rows: j, c }, ...Recorder.grid(j));
  rec.dispatch(k.normalize, { m: x, norms: normsX }, { rows: m, c }, ...Recorder.grid(m));
  if (meanExp) {
    rec.dispatch(
      k['rowstats:nceQueryLse'],
      { A: u, B: u, stats, colv: dummy },
      { rows: j, cols: j, c, invT, logOthers: Math.log(j - 1) },
      groups(j),
    );
  } else {
    rec.dispatch(k.colsum, { U: u, stats, outSum: sumU }, { rows: j, c, weighted: 0 }, ...Recorder.grid(c));
    rec.dispatch(k.meanLogit, { U: u, S: sumU, stats }, { rows: j, c, invT, others: j - 1 }, ...Recorder.grid(j));
  }
  rec.dispatch(
    k['rowstats:nceNegLse'],
    { A: u, B: x, stats, colv: dummy },
    { rows: j, cols: m, c, invT, gradScale },
    groups(j),
  );
  const parts = [{ src: stats.buffer, size: j * 16 }];
  if (job.grad) {
    const strip = rt.storage(
      'strip',
      Math.max(stripRows(rt, j, m) * m, stripRows(rt, m, j) * j, meanExp ? stripRows(rt, j, j) * j : 0) * 4,
    );
    const du = rt.storage('gradA', j * c * 4),
      dx = rt.storage('gradB', m * c * 4);
    const strips = (rowsTotal: number, cols: number, each: (i0: number, r: number) => void) => {
      const per = stripRows(rt, rowsTotal, cols);
      for (let i0 = 0; i0 < rowsTotal; i0 += per) each(i0, Math.min(per, rowsTotal - i0));
    };
    // Queries × negatives: du = W·X, then dx = Wᵀ·U from strips over the negatives' rows.
    strips(j, m, (i0, r) => {
      rec.dispatch(
        k['weights:nceNegRows'],
        { A: u, B: x, rs: stats, cs: dummy, W: strip },
        { rows: j, cols: m, c, rowStart: i0, stripRows: r, invT, scale: weightScale },
        groups(m),
        groups(r),
      );
      rec.dispatch(
        k.gemm,
        { W: strip, B: x, outRows: du },
        { rows: r, inner: m, c, rowStart: i0, accumulate: 0 },
        groups(c),
        groups(r),
      );
    });
    if (meanExp) {
      strips(j, j, (i0, r) => {
        rec.dispatch(
          k['weights:nceQueryPairs'],
          { A: u, B: u, rs: stats, cs: stats, W: strip },
          { rows: j, cols: j, c, rowStart: i0, stripRows: r, invT, scale: invT },
          groups(j),
          groups(r),
        );
        rec.dispatch(
          k.gemm,
          { W: strip, B: u, outRows: du },
          { rows: r, inner: j, c, rowStart: i0, accumulate: 1 },
          groups(c),
          groups(r),
        );
      });
    } else {
      const sumW = rt.storage('sumW', c * 4);
      rec.dispatch(k.colsum, { U: u, stats, outSum: sumW }, { rows: j, c, weighted: 1 }, ...Recorder.grid(c));
      rec.dispatch(
        k.meanLogitBack,
        { U: u, S: sumU, T: sumW, stats, dU: du },
        { rows: j, c, scale: Math.fround(invT / Math.fround(j - 1)) },
        ...Recorder.grid(j * c),
      );
    }
    strips(m, j, (i0, r) => {
      rec.dispatch(
        k['weights:nceNegCols'],
        { A: x, B: u, rs: dummy, cs: stats, W: strip },
        { rows: m, cols: j, c, rowStart: i0, stripRows: r, invT, scale: weightScale },
        groups(j),
        groups(r),
      );
      rec.dispatch(
        k.gemm,
        { W: strip, B: u, outRows: dx },
        { rows: r, inner: j, c, rowStart: i0, accumulate: 0 },
        groups(c),
        groups(r),
      );
    });
    rec.dispatch(k.normalizeBack, { z: u, g: du, norms: normsU }, { rows: j, c }, ...Recorder.grid(j));
    rec.dispatch(k.normalizeBack, { z: x, g: dx, norms: normsX }, { rows: m, c }, ...Recorder.grid(m));
    parts.push({ src: du.buffer, size: j * c * 4 }, { src: dx.buffer, size: m * c * 4 });
  }
  const [statsOut, duOut, dxOut] = await rt.read(rec, parts);
  const st = new Float32Array(statsOut);
  const perQuery = new Float32Array(j);
  let total = 0;
  for (let a = 0; a < j; a++) {
    perQuery[a] = st[a * 4 + 2] - st[a * 4];
    total += perQuery[a];
  }
  const result: InfoNCEImage = { loss: total / j, perQuery };
  if (job.grad) {
    const grad = new Float32Array(c * hw);
    const scatter = (rowsOut: Float32Array, idx: Int32Array) => {
      for (let r = 0; r < idx.length; r++) {
        const pixel = idx[r],
          o = r * c;
        for (let ch = 0; ch < c; ch++) grad[ch * hw + pixel] = rowsOut[o + ch];
      }
    };
    scatter(new Float32Array(duOut), job.queries);
    scatter(new Float32Array(dxOut), job.negatives);
    result.grad = grad;
  }
  return result;
}

/**
 * The raw sums of a cross-entropy call (the targets were checked, and gradScale worked out, by
 * src/losses/crossEntropy.ts, which also reduces them).
 */
async function crossEntropyJob(rt: GpuRuntime, p: CrossEntropyTask, gradScale: number): Promise<CrossEntropySums> {
  const { b, c, hw } = p;
  const target = p.target && (p.target instanceof Int32Array ? p.target : Int32Array.from(p.target));
  const weights = Float32Array.from(p.weight);
  let wsum = 0;
  for (const v of weights) wsum = Math.fround(wsum + v);
  const k = await rt.kernelsFor([target ? 'ceIndex' : 'ceProbs'] as const);
  // Chunks of whole images when an image fits one binding, else pixel ranges of one image.
  const budget = Math.min(rt.budgets.slice, rt.limits.maxBinding);
  const chunks: { b0: number; images: number; k0: number; len: number }[] = [];
  if (c * hw * 4 <= budget) {
    const per = Math.max(1, Math.floor(budget / (c * hw * 4)));
    for (let b0 = 0; b0 < b; b0 += per) chunks.push({ b0, images: Math.min(per, b - b0), k0: 0, len: hw });
  } else {
    rt.checkBinding(c * 4, `crossEntropy's ${c} classes of one pixel`);
    const len = Math.max(1, Math.floor(budget / (c * 4)));
    for (let b0 = 0; b0 < b; b0++)
      for (let k0 = 0; k0 < hw; k0 += len) chunks.push({ b0, images: 1, k0, len: Math.min(len, hw - k0) });
  }
  const per = p.reduction === 'none' ? new Float32Array(b * hw) : undefined;
  const grad = p.grad ? new Float32Array(b * c * hw) : undefined;
  const largest = chunks.reduce((a, ch) => Math.max(a, ch.images * ch.len), 0);
  const logits = rt.storage('ceLogits', largest * c * 4);
  const second = p.target ? rt.storage('ceTarget', largest * 4) : rt.storage('ceProbs', largest * c * 4);
  const weightBuf = rt.storage('ceWeights', c * 4),
    perBuf = rt.storage('cePer', per ? largest * 4 : 4);
  const gradBuf = rt.storage('ceGrad', grad ? largest * c * 4 : 4),
    bad = rt.storage('bad', 16);
  const [gx, gy] = Recorder.grid(largest);
  const partial = rt.storage('cePartial', gx * gy * 4);
  const rec = rt.recorder();
  rec.write(weightBuf, 0, weights);
  rec.write(bad, 0, BAD_INIT);
  let sum = 0;
  for (const ch of chunks) {
    const count = ch.images * ch.len;
    const planes = (src: Float32Array, dst: Binding) => {
      if (ch.len === hw) rec.write(dst, 0, src.subarray(ch.b0 * c * hw, (ch.b0 + ch.images) * c * hw));
      else
        for (let cl = 0; cl < c; cl++)
          rec.write(
            dst,
            cl * ch.len * 4,
            src.subarray((ch.b0 * c + cl) * hw + ch.k0, (ch.b0 * c + cl) * hw + ch.k0 + ch.len),
          );
    };
    planes(p.logits, logits);
    if (target) rec.write(second, 0, target.subarray(ch.b0 * hw + ch.k0, ch.b0 * hw + ch.k0 + count));
    else planes(p.targetProbs as Float32Array, second);
    const [x, y] = Recorder.grid(count);
    const params = {
      images: ch.images,
      c,
      len: ch.len,
      ignoreIndex: p.ignoreIndex,
      perElement: per ? 1 : 0,
      withGrad: grad ? 1 : 0,
      hw,
      firstImage: ch.b0,
      firstPixel: ch.k0,
      smoothing: p.smoothing,
      gradScale,
      weightSum: wsum,
    };
    const bound = { logits, weights: weightBuf, per: perBuf, grad: gradBuf, partial, bad };
    if (target) rec.dispatch(k.ceIndex, { ...bound, tgt: second }, params, x, y);
    else rec.dispatch(k.ceProbs, { ...bound, probs: second }, params, x, y);
    const parts = [
      { src: bad.buffer, size: 16 },
      { src: partial.buffer, size: x * y * 4 },
    ];
    if (per) parts.push({ src: perBuf.buffer, size: count * 4 });
    if (grad) parts.push({ src: gradBuf.buffer, size: count * c * 4 });
    const out = await rt.read(rec, parts);
    const badIdx = new Uint32Array(out[0]);
    if (badIdx[0] !== NONE) reportNonFinite(p.logits, 'logits', badIdx[0]);
    if (p.targetProbs && badIdx[1] !== NONE) reportNonFinite(p.targetProbs, 'targetProbs', badIdx[1]);
    for (const v of new Float32Array(out[1])) sum += v;
    let next = 2;
    if (per) per.set(new Float32Array(out[next++]), ch.b0 * hw + ch.k0);
    if (grad) {
      const g = new Float32Array(out[next++]);
      if (ch.len === hw) grad.set(g, ch.b0 * c * hw);
      else
        for (let cl = 0; cl < c; cl++)
          grad.set(g.subarray(cl * ch.len, (cl + 1) * ch.len), (ch.b0 * c + cl) * hw + ch.k0);
    }
  }
  return { sum, per, grad };
}

export { WebGpuError };
