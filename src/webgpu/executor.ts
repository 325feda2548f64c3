// The WebGPU executor: runs the same per-image jobs as the wasm executors (patch contrast and
// InfoNCE, src/losses/imageJobs.ts) and the cross-entropy of a whole call, on one GPU device.
// Jobs run one at a time (they share the device's cached buffers); each is a few submissions and
// one read-back. Inputs larger than the slice budget are split by channel slices (features) or
// pixel ranges (logits); the similarity work goes through strips within the strip budget
// (GpuRuntime.budgets, both also capped by maxStorageBufferBindingSize).

import type { ParsedCrossEntropy } from '../losses/crossEntropy';
import type { ImageResult, InfoNCEImage, InfoNCEJob, PatchContrastImage, PatchContrastJob } from '../losses/imageJobs';
import type { Executor, JobMaker } from '../runtime/executor';
import { type Binding, type GpuRuntime, Recorder, WebGpuError } from './device';
import type { KernelName } from './shaders';

const TILE = 32;
const BAD_INIT = new Uint32Array([0xffffffff, 0xffffffff, 0, 0]);

export interface CrossEntropyOutput {
  loss: number | Float32Array;
  grad?: Float32Array;
}

export class WebGpuExecutor implements Executor {
  readonly threads = 1;

  constructor(readonly runtime: GpuRuntime) {}

  run(make: JobMaker): Promise<ImageResult> {
    let job: ReturnType<JobMaker>;
    try {
      job = make(false);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.runtime.exclusive(() =>
      job.kind === 'patchContrast' ? patchContrastJob(this.runtime, job) : infoNCEJob(this.runtime, job),
    );
  }

  crossEntropy(p: ParsedCrossEntropy): Promise<CrossEntropyOutput> {
    return this.runtime.exclusive(() => crossEntropyJob(this.runtime, p));
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

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

function throwBad(array: Float32Array, field: string, index: number, offset = 0): void {
  if (index === 0xffffffff || index < 0) return;
  throw new RangeError(`${field}[${index + offset}] = ${array[index]}: values must be finite`);
}

/** Uploads each channel slice of an image and runs `each` on it (non-finite values are flagged). */
function uploadSlices(
  rec: Recorder,
  k: Record<'finite', Kernel>,
  feat: Binding,
  bad: Binding,
  features: Float32Array,
  c: number,
  hw: number,
  perSlice: number,
  each: (c0: number, cn: number) => void,
): void {
  for (let c0 = 0; c0 < c; c0 += perSlice) {
    const cn = Math.min(perSlice, c - c0);
    rec.write(feat, 0, features.subarray(c0 * hw, (c0 + cn) * hw));
    rec.dispatch(k.finite, [feat, bad], [cn * hw, c0 * hw, 0], [], ...Recorder.grid(cn * hw));
    each(c0, cn);
  }
}

type Kernel = Awaited<ReturnType<GpuRuntime['kernel']>>;

async function patchContrastJob(rt: GpuRuntime, job: PatchContrastJob): Promise<PatchContrastImage> {
  const { c, h, w, patchSize: p } = job;
  const kh = h / p,
    kw = w / p,
    n = kh * kw,
    hw = h * w;
  // Labels (strict > 0.5 on the float64 patch mean) and the class-sorted row order, as the wasm kernel.
  const labels = new Uint8Array(n);
  for (let r = 0; r < kh; r++) {
    for (let q = 0; q < kw; q++) {
      let s = 0;
      for (let y = r * p; y < r * p + p; y++) for (let x = q * p; x < q * p + p; x++) s += job.mask[y * w + x];
      labels[r * kw + q] = s / (p * p) > 0.5 ? 1 : 0;
    }
  }
  let p0 = 0;
  for (let k = 0; k < n; k++) if (labels[k] === 0) p0++;
  const rowOf = new Uint32Array(n),
    patchOf = new Uint32Array(n);
  for (let k = 0, nextP = 0, nextF = p0; k < n; k++) {
    const row = labels[k] === 0 ? nextP++ : nextF++;
    rowOf[k] = row;
    patchOf[row] = k;
  }
  const cflnet = job.variant === 1;
  const invT = Math.fround(1 / job.temperature);
  const weightScale = Math.fround(Math.fround(job.gradScale) * invT);
  rt.checkBinding(n * c * 4, `patchContrast's ${n} × ${c} patch matrix`);
  const perSlice = channelsPerSlice(rt, c, hw);
  const rows = stripRows(rt, n, n);
  const names: KernelName[] = [
    'finite',
    'pool',
    'normalize',
    ...(cflnet
      ? (['rowstats:pcColmax', 'rowstats:pcCflD', 'rowstats:pcCflPos'] as const)
      : (['rowstats:pcExactLse', 'rowstats:pcExactPos'] as const)),
  ];
  if (job.grad) names.push(cflnet ? 'weights:pcCflnet' : 'weights:pcExact', 'gemm', 'normalizeBack', 'poolBack');
  const k = await rt.kernelsFor(names);
  const feat = rt.storage('feat', perSlice * hw * 4),
    bad = rt.storage('bad', 16);
  const z = rt.storage('rowsA', n * c * 4),
    norms = rt.storage('normsA', n * 4);
  const stats = rt.storage('stats', n * 16),
    statsCopy = rt.storage('statsCopy', n * 16);
  const patchOfBuf = rt.storage('patchOf', n * 4),
    rowOfBuf = rt.storage('rowOf', n * 4);
  const rec = rt.recorder();
  rec.write(bad, 0, BAD_INIT);
  rec.write(patchOfBuf, 0, patchOf);
  rec.write(rowOfBuf, 0, rowOf);
  const invArea = Math.fround(1 / (p * p));
  uploadSlices(rec, k, feat, bad, job.features, c, hw, perSlice, (c0, cn) => {
    rec.dispatch(k.pool, [feat, patchOfBuf, z], [n, c, w, p, kw, c0, cn, h], [invArea], ...Recorder.grid(n * cn));
  });
  rec.dispatch(k.normalize, [z, norms], [n, c], [], ...Recorder.grid(n));
  const rowPass = (name: KernelName, colv: Binding) =>
    rec.dispatch(k[name], [z, z, stats, colv], [n, n, c, p0], [invT], groups(n));
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
      [dz, rowOfBuf, gradSlice],
      [cn * hw, c, w, p, kw, c0, 0, h],
      [invArea],
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
        [z, z, stats, stats, strip],
        [n, n, c, p0, i0, r],
        [invT, weightScale],
        groups(n),
        groups(r),
      );
      rec.dispatch(k.gemm, [strip, z, dz], [r, n, c, 0, i0, 0], [], groups(c), groups(r));
    }
    rec.dispatch(k.normalizeBack, [z, dz, norms], [n, c], [], ...Recorder.grid(n));
    poolBack(0, Math.min(perSlice, c));
  }
  const parts = [
    { src: bad.buffer, size: 16 },
    { src: stats.buffer, size: n * 16 },
  ];
  if (grad) parts.push({ src: gradSlice.buffer, size: Math.min(perSlice, c) * hw * 4 });
  const [badOut, statsOut, firstSlice] = await rt.read(rec, parts);
  throwBad(job.features, 'features', new Uint32Array(badOut)[0], job.offset);
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
  if (!job.used) {
    // A skipped image only has its features checked (as on wasm).
    throwBad(job.features, 'features', firstNonFinite(job.features), job.offset);
    return { loss: null };
  }
  const { c, hw } = job;
  const j = job.queries.length,
    m = job.negatives.length;
  const meanExp = job.positive === 1;
  const invT = Math.fround(1 / job.temperature);
  const gradScale = Math.fround(job.gradScale);
  const weightScale = Math.fround(gradScale * invT);
  rt.checkBinding(Math.max(j, m) * c * 4, `infoNCE's ${Math.max(j, m)} × ${c} pixel rows`);
  const perSlice = channelsPerSlice(rt, c, hw);
  const names: KernelName[] = [
    'finite',
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
    bad = rt.storage('bad', 16),
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
  rec.write(bad, 0, BAD_INIT);
  rec.write(qIdx, 0, new Uint32Array(job.queries.buffer, job.queries.byteOffset, j));
  rec.write(kIdx, 0, new Uint32Array(job.negatives.buffer, job.negatives.byteOffset, m));
  uploadSlices(rec, k, feat, bad, job.features, c, hw, perSlice, (c0, cn) => {
    rec.dispatch(k.gather, [feat, qIdx, u], [j, c, hw, 0, 0, c0, cn], [], ...Recorder.grid(j * cn));
    rec.dispatch(k.gather, [feat, kIdx, x], [m, c, hw, 0, 0, c0, cn], [], ...Recorder.grid(m * cn));
  });
  rec.dispatch(k.normalize, [u, normsU], [j, c], [], ...Recorder.grid(j));
  rec.dispatch(k.normalize, [x, normsX], [m, c], [], ...Recorder.grid(m));
  if (meanExp) {
    rec.dispatch(k['rowstats:nceQueryLse'], [u, u, stats, dummy], [j, j, c, 0], [invT, 0, Math.log(j - 1)], groups(j));
  } else {
    rec.dispatch(k.colsum, [u, stats, sumU], [j, c, 0], [], ...Recorder.grid(c));
    rec.dispatch(k.meanLogit, [u, sumU, stats], [j, c], [invT, j - 1], ...Recorder.grid(j));
  }
  rec.dispatch(k['rowstats:nceNegLse'], [u, x, stats, dummy], [j, m, c, 0], [invT, gradScale], groups(j));
  const parts = [
    { src: bad.buffer, size: 16 },
    { src: stats.buffer, size: j * 16 },
  ];
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
        [u, x, stats, dummy, strip],
        [j, m, c, 0, i0, r],
        [invT, weightScale],
        groups(m),
        groups(r),
      );
      rec.dispatch(k.gemm, [strip, x, du], [r, m, c, 0, i0, 0], [], groups(c), groups(r));
    });
    if (meanExp) {
      strips(j, j, (i0, r) => {
        rec.dispatch(
          k['weights:nceQueryPairs'],
          [u, u, stats, stats, strip],
          [j, j, c, 0, i0, r],
          [invT, invT],
          groups(j),
          groups(r),
        );
        rec.dispatch(k.gemm, [strip, u, du], [r, j, c, 0, i0, 1], [], groups(c), groups(r));
      });
    } else {
      const sumW = rt.storage('sumW', c * 4);
      rec.dispatch(k.colsum, [u, stats, sumW], [j, c, 1], [], ...Recorder.grid(c));
      rec.dispatch(
        k.meanLogitBack,
        [u, sumU, sumW, stats, du],
        [j, c],
        [Math.fround(invT / Math.fround(j - 1))],
        ...Recorder.grid(j * c),
      );
    }
    strips(m, j, (i0, r) => {
      rec.dispatch(
        k['weights:nceNegCols'],
        [x, u, dummy, stats, strip],
        [m, j, c, 0, i0, r],
        [invT, weightScale],
        groups(j),
        groups(r),
      );
      rec.dispatch(k.gemm, [strip, u, dx], [r, j, c, 0, i0, 0], [], groups(c), groups(r));
    });
    rec.dispatch(k.normalizeBack, [u, du, normsU], [j, c], [], ...Recorder.grid(j));
    rec.dispatch(k.normalizeBack, [x, dx, normsX], [m, c], [], ...Recorder.grid(m));
    parts.push({ src: du.buffer, size: j * c * 4 }, { src: dx.buffer, size: m * c * 4 });
  }
  const [badOut, statsOut, duOut, dxOut] = await rt.read(rec, parts);
  throwBad(job.features, 'features', new Uint32Array(badOut)[0], job.offset);
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

async function crossEntropyJob(rt: GpuRuntime, p: ParsedCrossEntropy): Promise<CrossEntropyOutput> {
  const { b, c, hw } = p;
  let normalizer = b * hw;
  let target: Int32Array | undefined;
  if (p.target) {
    target = p.target instanceof Int32Array ? p.target : Int32Array.from(p.target);
    normalizer = 0;
    for (let i = 0; i < target.length; i++) {
      const y = target[i];
      if (y === p.ignoreIndex) continue;
      if (y < 0 || y >= c)
        throw new RangeError(
          `target[${i}] = ${p.target[i]}: class indices must lie in [0, ${c}) or equal ignoreIndex (${p.ignoreIndex})`,
        );
      normalizer += p.weight[y];
    }
  }
  const scale = p.reduction === 'mean' ? (normalizer === 0 ? 0 : 1 / normalizer) : 1;
  if (!(Math.abs(scale) <= 3.4028234663852886e38)) {
    throw new RangeError(
      `weight: the 'mean' normalizer (the sum of the target classes' weights) is ${normalizer}, too close to 0 ` +
        `for float32 (its inverse overflows); scale the weights up`,
    );
  }
  const gradScale = Math.fround(scale);
  const weights = Float32Array.from(p.weight);
  let wsum = 0;
  for (const v of weights) wsum = Math.fround(wsum + v);
  const k = await rt.kernelsFor([p.target ? 'ceIndex' : 'ceProbs'] as const);
  const kernel = p.target ? k.ceIndex : k.ceProbs;
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
  const flags = (per ? 1 : 0) | (grad ? 2 : 0);
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
    rec.dispatch(
      kernel,
      [logits, second, weightBuf, perBuf, gradBuf, partial, bad],
      [ch.images, c, ch.len, p.ignoreIndex >>> 0, flags, hw, ch.b0, ch.k0],
      [p.smoothing, gradScale, wsum],
      x,
      y,
    );
    const parts = [
      { src: bad.buffer, size: 16 },
      { src: partial.buffer, size: x * y * 4 },
    ];
    if (per) parts.push({ src: perBuf.buffer, size: count * 4 });
    if (grad) parts.push({ src: gradBuf.buffer, size: count * c * 4 });
    const out = await rt.read(rec, parts);
    const badIdx = new Uint32Array(out[0]);
    throwBad(p.logits, 'logits', badIdx[0]);
    if (p.targetProbs) throwBad(p.targetProbs, 'targetProbs', badIdx[1]);
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
  const loss = per ?? (p.reduction === 'sum' ? sum : normalizer === 0 ? Number.NaN : sum / normalizer);
  return grad ? { loss, grad } : { loss };
}

export { WebGpuError };
