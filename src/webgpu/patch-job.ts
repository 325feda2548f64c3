// One patchContrast image on the GPU: pooling into the class-sorted rows of Z (channel slice by
// slice), normalization, the row statistics of the variant, then with a gradient the weight strips
// and their GEMMs into dZ and the backward passes; one read-back of the statistics (and of the
// first gradient slice), then one per further slice.

import { VARIANT_CFLNET } from '../codes.js';
import type { PatchContrastImage, PatchContrastJob } from '../runtime/schedule/jobs.js';
import { rowMap } from '../runtime/wasm/layout.js';
import { type Binding, type GpuRuntime, Recorder } from './device.js';
import type { KernelName } from './shaders/index.js';
import { channelsPerSlice, groups, inStrips, stripRows, uploadSlices } from './slices.js';

type Kernels = Awaited<ReturnType<GpuRuntime['kernelsFor']>>;

/** What the stages of one image share. */
interface Image {
  rt: GpuRuntime;
  job: PatchContrastJob;
  k: Kernels;
  rec: Recorder;
  n: number;
  hw: number;
  /** Pristine rows: the forged ones follow at once (the shaders bound each class by P). */
  p0: number;
  patchOf: Uint32Array;
  rowOf: Uint32Array;
  perSlice: number;
  cflnet: boolean;
  invT: number;
  z: Binding;
  norms: Binding;
  stats: Binding;
}

function kernelNames(cflnet: boolean, grad: boolean): KernelName[] {
  const names: KernelName[] = [
    'pool',
    'normalize',
    ...(cflnet
      ? (['rowstats:pcColmax', 'rowstats:pcCflD', 'rowstats:pcCflPos'] as const)
      : (['rowstats:pcExactLse', 'rowstats:pcExactPos'] as const)),
  ];
  if (grad) names.push(cflnet ? 'weights:pcCflnet' : 'weights:pcExact', 'gemm', 'normalizeBack', 'poolBack');
  return names;
}

async function setUp(rt: GpuRuntime, job: PatchContrastJob): Promise<Image> {
  const { c, h, w, patchSize: p } = job;
  const n = (h / p) * (w / p);
  // The class-sorted rows of the job's labels, unpadded.
  const { rowOf: rows32, pristine: p0 } = rowMap(job.labels, 1);
  const rowOf = new Uint32Array(rows32.buffer),
    patchOf = new Uint32Array(n);
  for (let k = 0; k < n; k++) patchOf[rowOf[k]] = k;
  const cflnet = job.variant === VARIANT_CFLNET;
  rt.checkBinding(n * c * 4, `patchContrast's ${n} × ${c} patch matrix`);
  const k = await rt.kernelsFor(kernelNames(cflnet, job.grad));
  const image = { rt, job, k, rec: rt.recorder(), n, hw: h * w, p0, patchOf, rowOf, cflnet };
  return {
    ...image,
    perSlice: channelsPerSlice(rt, c, h * w),
    invT: Math.fround(1 / job.temperature),
    z: rt.storage('rowsA', n * c * 4),
    norms: rt.storage('normsA', n * 4),
    stats: rt.storage('stats', n * 16),
  };
}

/** Z pooled slice by slice and normalized; the variant's row statistics. */
function forward(s: Image): void {
  const { rt, job, k, rec, n, z, stats } = s;
  const { c, w, h, patchSize: p } = job;
  const feat = rt.storage('feat', s.perSlice * s.hw * 4);
  const statsCopy = rt.storage('statsCopy', n * 16);
  const patchOfBuf = rt.storage('patchOf', n * 4);
  rec.write(patchOfBuf, 0, s.patchOf);
  const invArea = Math.fround(1 / (p * p));
  uploadSlices(rec, feat, job.features, [c, s.hw, s.perSlice], (c0, cn) => {
    const params = { rows: n, sliceC: cn, c, w, h, patchSize: p, kw: w / p, cOff: c0, invArea };
    rec.dispatch(k.pool, { feat, patchOf: patchOfBuf, z }, params, ...Recorder.grid(n * cn));
  });
  rec.dispatch(k.normalize, { m: z, norms: s.norms }, { rows: n, c }, ...Recorder.grid(n));
  const rowPass = (name: KernelName & `rowstats:pc${string}`) =>
    rec.dispatch(
      k[name],
      { A: z, B: z, stats, colv: statsCopy },
      { rows: n, cols: n, c, p0: s.p0, invT: s.invT },
      groups(n),
    );
  if (s.cflnet) {
    rowPass('rowstats:pcColmax');
    rec.copy(stats.buffer, 0, statsCopy.buffer, 0, n * 16);
    rowPass('rowstats:pcCflD');
    rowPass('rowstats:pcCflPos');
  } else {
    rowPass('rowstats:pcExactLse');
    rowPass('rowstats:pcExactPos');
  }
}

/** dZ from the weight strips and their GEMMs, back through the normalization; returns the slice's backward pass. */
function backward(s: Image): (c0: number, cn: number) => Binding {
  const { rt, job, k, rec, n, z, stats } = s;
  const { c, w, h, patchSize: p } = job;
  const dz = rt.storage('gradA', n * c * 4);
  const strip = rt.storage('strip', stripRows(rt, n, n) * n * 4);
  const weights = k[s.cflnet ? 'weights:pcCflnet' : 'weights:pcExact'];
  const scale = Math.fround(Math.fround(job.gradScale) * s.invT);
  inStrips(rt, n, n, (i0, r) => {
    const params = { rows: n, cols: n, c, rowStart: i0, stripRows: r, invT: s.invT, scale, p0: s.p0 };
    rec.dispatch(weights, { A: z, B: z, rs: stats, cs: stats, W: strip }, params, groups(n), groups(r));
    const gemm = { rows: r, inner: n, c, rowStart: i0, accumulate: 0 };
    rec.dispatch(k.gemm, { W: strip, B: z, outRows: dz }, gemm, groups(c), groups(r));
  });
  rec.dispatch(k.normalizeBack, { z, g: dz, norms: s.norms }, { rows: n, c }, ...Recorder.grid(n));
  const rowOf = rt.storage('rowOf', n * 4);
  rec.write(rowOf, 0, s.rowOf);
  const slice = rt.storage('gradSlice', s.perSlice * s.hw * 4);
  const invArea = Math.fround(1 / (p * p));
  return (c0, cn) => {
    const params = { count: cn * s.hw, c, w, h, patchSize: p, kw: w / p, cOff: c0, invArea };
    rec.dispatch(k.poolBack, { dz, rowOf, g: slice }, params, ...Recorder.grid(cn * s.hw));
    return slice;
  };
}

export async function patchContrastJob(rt: GpuRuntime, job: PatchContrastJob): Promise<PatchContrastImage> {
  const s = await setUp(rt, job);
  forward(s);
  const sliceBack = job.grad ? backward(s) : undefined;
  const first = Math.min(s.perSlice, job.c);
  const parts = [{ src: s.stats.buffer, size: s.n * 16 }];
  if (sliceBack) parts.push({ src: sliceBack(0, first).buffer, size: first * s.hw * 4 });
  const [statsOut, firstSlice] = await rt.read(s.rec, parts);
  const st = new Float32Array(statsOut);
  const perPatch = new Float32Array(s.n);
  let total = 0;
  for (let i = 0; i < s.n; i++) {
    perPatch[s.patchOf[i]] = st[i * 4 + 2];
    total += st[i * 4 + 2];
  }
  const result: PatchContrastImage = { loss: total / s.n, perPatch, labels: job.labels };
  if (!sliceBack) return result;
  const grad = new Float32Array(job.c * s.hw);
  grad.set(new Float32Array(firstSlice), 0);
  for (let c0 = s.perSlice; c0 < job.c; c0 += s.perSlice) {
    const cn = Math.min(s.perSlice, job.c - c0);
    const [slice] = await rt.read(s.rec, [{ src: sliceBack(c0, cn).buffer, size: cn * s.hw * 4 }]);
    grad.set(new Float32Array(slice), c0 * s.hw);
  }
  result.grad = grad;
  return result;
}
