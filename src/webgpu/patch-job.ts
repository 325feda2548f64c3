// One patchContrast image on the GPU: pooling into the class-sorted rows of Z (channel slice by
// slice), normalization, the row statistics of the variant, then with a gradient the weight strips
// and their GEMMs into dZ and the backward passes. An async job reads the statistics and the
// gradient slices back; a sync call on the device keeps them there (resident/patch.ts).

import { VARIANT_CFLNET } from '../codes.js';
import type { PatchContrastImage, PatchContrastJob } from '../runtime/schedule/jobs.js';
import { rowMap } from '../runtime/wasm/layout.js';
import type { CompiledKernels } from './kernels.js';
import type { Binding, Lane } from './lane.js';
import { Recorder } from './recorder.js';
import type { GpuSession } from './session.js';
import type { KernelName } from './shaders/index.js';
import { channelsPerSlice, groups, type ImageSource, inStrips, stripRows, uploadSlices } from './slices.js';

/** What one image's passes need (a patchContrast job, its features aside). */
export type PatchImage = Pick<
  PatchContrastJob,
  'labels' | 'c' | 'h' | 'w' | 'patchSize' | 'temperature' | 'variant' | 'gradScale' | 'grad'
>;

/** What the stages of one image share. */
interface Image {
  lane: Lane;
  job: PatchImage;
  k: CompiledKernels;
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

/** The kernels an image of `variant` needs. */
export function patchKernels(variant: number, grad: boolean): KernelName[] {
  const cflnet = variant === VARIANT_CFLNET;
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

function setUp(lane: Lane, k: CompiledKernels, rec: Recorder, job: PatchImage): Image {
  const { c, h, w, patchSize: p } = job;
  const n = (h / p) * (w / p);
  // The class-sorted rows of the job's labels, unpadded.
  const { rowOf: rows32, pristine: p0 } = rowMap(job.labels, 1);
  const rowOf = new Uint32Array(rows32.buffer),
    patchOf = new Uint32Array(n);
  for (let i = 0; i < n; i++) patchOf[rowOf[i]] = i;
  lane.checkBinding(n * c * 4, `patchContrast's ${n} × ${c} patch matrix`);
  return {
    ...{ lane, job, k, rec, n, hw: h * w, p0, patchOf, rowOf, cflnet: job.variant === VARIANT_CFLNET },
    perSlice: channelsPerSlice(lane, c, h * w),
    invT: Math.fround(1 / job.temperature),
    z: lane.storage('rowsA', n * c * 4),
    norms: lane.storage('normsA', n * 4),
    stats: lane.storage('stats', n * 16),
  };
}

/** Z pooled slice by slice and normalized; the variant's row statistics. */
function forward(s: Image, image: ImageSource): void {
  const { lane, job, k, rec, n, z, stats } = s;
  const { c, w, h, patchSize: p } = job;
  const feat = lane.storage('feat', s.perSlice * s.hw * 4);
  const statsCopy = lane.storage('statsCopy', n * 16);
  const patchOfBuf = lane.storage('patchOf', n * 4);
  rec.write(patchOfBuf, 0, s.patchOf);
  const invArea = Math.fround(1 / (p * p));
  uploadSlices(rec, feat, image, [c, s.hw, s.perSlice], (c0, cn) => {
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
  const { lane, job, k, rec, n, z, stats } = s;
  const { c, w, h, patchSize: p } = job;
  const dz = lane.storage('gradA', n * c * 4);
  const strip = lane.storage('strip', stripRows(lane, n, n) * n * 4);
  const weights = k[s.cflnet ? 'weights:pcCflnet' : 'weights:pcExact'];
  const scale = Math.fround(Math.fround(job.gradScale) * s.invT);
  inStrips(lane, n, n, (i0, r) => {
    const params = { rows: n, cols: n, c, rowStart: i0, stripRows: r, invT: s.invT, scale, p0: s.p0 };
    rec.dispatch(weights, { A: z, B: z, rs: stats, cs: stats, W: strip }, params, groups(n), groups(r));
    const gemm = { rows: r, inner: n, c, rowStart: i0, accumulate: 0 };
    rec.dispatch(k.gemm, { W: strip, B: z, outRows: dz }, gemm, groups(c), groups(r));
  });
  rec.dispatch(k.normalizeBack, { z, g: dz, norms: s.norms }, { rows: n, c }, ...Recorder.grid(n));
  const rowOf = lane.storage('rowOf', n * 4);
  rec.write(rowOf, 0, s.rowOf);
  const slice = lane.storage('gradSlice', s.perSlice * s.hw * 4);
  const invArea = Math.fround(1 / (p * p));
  return (c0, cn) => {
    const params = { count: cn * s.hw, c, w, h, patchSize: p, kw: w / p, cOff: c0, invArea };
    rec.dispatch(k.poolBack, { dz, rowOf, g: slice }, params, ...Recorder.grid(cn * s.hw));
    return slice;
  };
}

/** One image's passes, recorded: its row statistics (L_i of row i in stats[4i + 2]) and its gradient slices. */
export interface EncodedPatchImage {
  n: number;
  /** Patch index of each row. */
  patchOf: Uint32Array;
  stats: Binding;
  perSlice: number;
  /** Records the backward pass of channels [c0, c0 + cn) into the returned slice buffer. */
  sliceBack?: (c0: number, cn: number) => Binding;
}

export function encodePatchImage(
  lane: Lane,
  k: CompiledKernels,
  rec: Recorder,
  job: PatchImage,
  image: ImageSource,
): EncodedPatchImage {
  const s = setUp(lane, k, rec, job);
  forward(s, image);
  return {
    n: s.n,
    patchOf: s.patchOf,
    stats: s.stats,
    perSlice: s.perSlice,
    sliceBack: job.grad ? backward(s) : undefined,
  };
}

/** The image's features: an engine that may route a call here copies them (losses/env.ts), never pools them. */
function featuresOf(job: PatchContrastJob): Float32Array {
  if (!job.features) throw new Error('forgery-losses: internal error: a WebGPU patchContrast job without its features');
  return job.features;
}

export async function patchContrastJob(session: GpuSession, job: PatchContrastJob): Promise<PatchContrastImage> {
  const k = await session.kernels.load(patchKernels(job.variant, job.grad));
  const { lane } = session;
  const rec = lane.recorder();
  const hw = job.h * job.w;
  const first = Math.min(channelsPerSlice(lane, job.c, hw), job.c);
  const { e, parts } = session.encode(() => {
    const e = encodePatchImage(lane, k, rec, job, { src: { kind: 'host', values: featuresOf(job) }, first: 0 });
    const parts = [{ src: e.stats.buffer, size: e.n * 16 }];
    if (e.sliceBack) parts.push({ src: e.sliceBack(0, first).buffer, size: first * hw * 4 });
    return { e, parts };
  });
  const [statsOut, firstSlice] = await session.read(rec, parts);
  const st = new Float32Array(statsOut);
  const perPatch = new Float32Array(e.n);
  let total = 0;
  for (let i = 0; i < e.n; i++) {
    perPatch[e.patchOf[i]] = st[i * 4 + 2];
    total += st[i * 4 + 2];
  }
  const result: PatchContrastImage = { loss: total / e.n, perPatch, labels: job.labels };
  if (!e.sliceBack) return result;
  const sliceBack = e.sliceBack;
  const grad = new Float32Array(job.c * hw);
  grad.set(new Float32Array(firstSlice), 0);
  for (let c0 = e.perSlice; c0 < job.c; c0 += e.perSlice) {
    const cn = Math.min(e.perSlice, job.c - c0);
    const slice = session.encode(() => sliceBack(c0, cn));
    const [back] = await session.read(rec, [{ src: slice.buffer, size: cn * hw * 4 }]);
    grad.set(new Float32Array(back), c0 * hw);
  }
  result.grad = grad;
  return result;
}
