// Per-image jobs: the unit of work that runs in the calling thread or on a worker. A job carries
// its image's inputs (views in the calling thread, copies that are transferred to a worker) and
// `runImageJob` turns it into the image's results with one wasm instance.

import type { Kernels } from '../runtime/kernels';
import type { Workspace } from '../runtime/workspace';

export interface PatchContrastJob {
  kind: 'patchContrast';
  /** C × H × W features of the image; `offset` is its first index in the caller's array. */
  features: Float32Array;
  offset: number;
  /** H × W float32 mask, already validated. */
  mask: Float32Array;
  c: number;
  h: number;
  w: number;
  patchSize: number;
  temperature: number;
  variant: number;
  gradScale: number;
  grad: boolean;
  /** Wasm memory the image needs (patchContrastMemory), reserved before any work. */
  memoryBytes: number;
}

export interface PatchContrastImage {
  loss: number;
  perPatch: Float32Array;
  labels: Uint8Array;
  grad?: Float32Array;
}

export interface InfoNCEJob {
  kind: 'infoNCE';
  features: Float32Array;
  offset: number;
  /** B when the features are scope 'batch''s stacked image (C, B·H·W) of a (B, C, H, W) input, else 1. */
  stacked: number;
  c: number;
  hw: number;
  /** Query and negative pixel indices; `used` false only checks the features. */
  queries: Int32Array;
  negatives: Int32Array;
  used: boolean;
  temperature: number;
  positive: number;
  gradScale: number;
  grad: boolean;
  /** Wasm memory the image needs (infoNCE.ts imageMemory), reserved before any work. */
  memoryBytes: number;
}

export interface InfoNCEImage {
  loss: number | null;
  perQuery?: Float32Array;
  grad?: Float32Array;
}

export type ImageJob = PatchContrastJob | InfoNCEJob;
export type ImageResult = PatchContrastImage | InfoNCEImage;

/** Index in the caller's features array of element `i` of a job's features. */
export function callerIndex(job: ImageJob, i: number): number {
  if (job.kind !== 'infoNCE' || job.stacked === 1) return job.offset + i;
  const hw = job.hw / job.stacked,
    channel = Math.floor(i / job.hw),
    pixel = i % job.hw;
  return (Math.floor(pixel / hw) * job.c + channel) * hw + (pixel % hw);
}

/** Runs one job on a wasm instance; throws a RangeError naming a non-finite feature. */
export function runImageJob(k: Kernels, ws: Workspace, job: ImageJob): ImageResult {
  ws.reset();
  ws.reserve(job.memoryBytes, `${job.kind} (one image)`);
  try {
    const n = job.features.length;
    const featuresPtr = ws.put(job.features);
    const bad = k.findNonFinite(featuresPtr, n);
    if (bad >= 0)
      throw new RangeError(`features[${callerIndex(job, bad)}] = ${job.features[bad]}: values must be finite`);
    return job.kind === 'patchContrast'
      ? patchContrastImage(k, ws, job, featuresPtr)
      : infoNCEImage(k, ws, job, featuresPtr);
  } finally {
    ws.reset();
  }
}

function patchContrastImage(k: Kernels, ws: Workspace, job: PatchContrastJob, featuresPtr: number): PatchContrastImage {
  const n = (job.h / job.patchSize) * (job.w / job.patchSize);
  const maskPtr = ws.put(job.mask);
  const perPatchPtr = ws.alloc(n * 4),
    labelsPtr = ws.alloc(n);
  // The gradient overwrites the features in wasm memory: pooling has consumed them by then.
  const loss = k.patchContrastImage(
    featuresPtr,
    maskPtr,
    job.c,
    job.h,
    job.w,
    job.patchSize,
    job.temperature,
    job.variant,
    job.gradScale,
    perPatchPtr,
    labelsPtr,
    0,
    job.grad ? featuresPtr : 0,
  );
  const result: PatchContrastImage = {
    loss,
    perPatch: ws.copyF32(perPatchPtr, n),
    labels: ws.u8(labelsPtr, n).slice(),
  };
  if (job.grad) result.grad = ws.copyF32(featuresPtr, job.features.length);
  return result;
}

function infoNCEImage(k: Kernels, ws: Workspace, job: InfoNCEJob, featuresPtr: number): InfoNCEImage {
  if (!job.used) return { loss: null };
  const j = job.queries.length,
    m = job.negatives.length;
  const qPtr = ws.put(job.queries),
    nPtr = ws.put(job.negatives);
  const perQueryPtr = ws.alloc(j * 4),
    positivePtr = ws.alloc(j * 4);
  const gradPtr = job.grad ? ws.allocZeroed(job.features.length * 4) : 0;
  const loss = k.infoNCEImage(
    featuresPtr,
    job.c,
    job.hw,
    qPtr,
    j,
    nPtr,
    m,
    job.temperature,
    job.positive,
    job.gradScale,
    perQueryPtr,
    positivePtr,
    gradPtr,
  );
  const result: InfoNCEImage = { loss, perQuery: ws.copyF32(perQueryPtr, j) };
  if (job.grad) result.grad = ws.copyF32(gradPtr, job.features.length);
  return result;
}

/** The buffers a job or result can hand over instead of copying (worker messages). */
export function transferList(value: ImageJob | ImageResult): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of Object.values(value)) if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}
