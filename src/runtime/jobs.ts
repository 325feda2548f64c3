// Per-image jobs: the unit of work that runs in the calling thread or on a worker. A job carries
// its image's inputs, taken when the call is made (private copies, transferred to a worker), and
// `imageJobSteps` turns it into the image's results with one wasm instance, in steps of bounded
// kernel work (`planSteps`) so that the thread running it can yield, report progress and stop
// between them (docs/design.md §8).

import type { Kernels } from './kernels.js';
import type { Workspace } from './workspace.js';

export interface PatchContrastJob {
  kind: 'patchContrast';
  /** C × H × W features of the image: the call's own copy. */
  features: Float32Array;
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

/** A whole cross-entropy call, validated (src/losses/crossEntropy.ts), for an executor's own path. */
export interface ParsedCrossEntropy {
  b: number;
  c: number;
  hw: number;
  logits: Float32Array;
  target?: Int32Array | Uint8Array | Uint16Array;
  targetProbs?: Float32Array;
  weight: Float64Array;
  ignoreIndex: number;
  reduction: 'mean' | 'sum' | 'none';
  smoothing: number;
  grad: boolean;
  gradInto?: Float32Array;
}

/** What a backend's own cross-entropy path returns: the raw sums; the shared code reduces them. */
export interface CrossEntropySums {
  /** Σ of the per-element losses (float64 reduction of float32 values). */
  sum: number;
  /** The per-element losses (reduction 'none'). */
  per?: Float32Array;
  /** The gradient w.r.t. the logits, already scaled by `gradScale` (unless grad: false). */
  grad?: Float32Array;
}

export type ImageJob = PatchContrastJob | InfoNCEJob;
export type ImageResult = PatchContrastImage | InfoNCEImage;

/** Rows of a similarity strip: the module's STRIP_ROWS export (assembly/similarity.ts; tests/steps.test.mjs). */
export const STRIP_ROWS = 32;
/**
 * Work per step, in multiply-adds: about 2–5 ms on one core, so that the thread running a job
 * yields (every SLICE_MS, control.ts) and answers an abort well within 50 ms.
 */
export const STEP_WORK = 2 ** 25;
/**
 * What one similarity costs besides its C multiply-adds (exp, log, σ and the row statistics), in
 * multiply-add equivalents: it dominates at small C.
 */
const PER_SIMILARITY = 24;

type Stage = 'columnMax' | 'stats' | 'grad' | 'strips';

/** A step: a stage of the kernel over strips [s0, s1), and its work (the unit of progress). */
export interface Step {
  stage: Stage;
  s0: number;
  s1: number;
  work: number;
}

const roundUp8 = (n: number) => (n + 7) & ~7;

/** Groups the strips of one stage into steps of about STEP_WORK (`cost(s)`: work of strip s). */
function group(stage: Stage, strips: number, cost: (s: number) => number, out: Step[]): void {
  for (let s0 = 0; s0 < strips; ) {
    let s1 = s0,
      work = 0;
    while (s1 < strips && (s1 === s0 || work + cost(s1) <= STEP_WORK)) work += cost(s1++);
    out.push({ stage, s0, s1, work });
    s0 = s1;
  }
}

/** The similarity steps of a job, in order (none for a skipped infoNCE image). */
export function planSteps(job: ImageJob): Step[] {
  const steps: Step[] = [];
  const cp = roundUp8(job.c);
  if (job.kind === 'patchContrast') {
    const np = roundUp8((job.h / job.patchSize) * (job.w / job.patchSize));
    const strips = Math.ceil(np / STRIP_ROWS);
    const rows = (s: number) => Math.min(STRIP_ROWS, np - s * STRIP_ROWS);
    const half = (s: number) => rows(s) * (np - s * STRIP_ROWS);
    if (job.variant === VARIANT_CFLNET) group('columnMax', strips, (s) => half(s) * (cp + 1), steps);
    group('stats', strips, (s) => rows(s) * np * (cp + PER_SIMILARITY), steps);
    if (job.grad) group('grad', strips, (s) => half(s) * (3 * cp + PER_SIMILARITY), steps);
    return steps;
  }
  if (!job.used) return steps;
  const jp = roundUp8(job.queries.length),
    mp = roundUp8(job.negatives.length);
  const width = mp + (job.positive === POSITIVE_MEAN_EXP ? jp : 0);
  const strips = Math.ceil(jp / STRIP_ROWS);
  const perRow = width * ((job.grad ? 3 : 1) * cp + PER_SIMILARITY);
  group('strips', strips, (s) => Math.min(STRIP_ROWS, jp - s * STRIP_ROWS) * perRow, steps);
  return steps;
}

/** Work of the steps around the similarity passes (copies, checks, pooling, gathering). */
function edgeWork(job: ImageJob): number {
  return job.features.length;
}

/** The work units a job reports in all (its steps and the work around them). */
export function jobWork(job: ImageJob): number {
  return planSteps(job).reduce((sum, step) => sum + step.work, edgeWork(job));
}

const VARIANT_CFLNET = 1;
const POSITIVE_MEAN_EXP = 1;

/**
 * Runs one job on a wasm instance as a generator: each `next()` runs one step and yields its work
 * units; the return value is the image's result. Stopping the generator early (`return()`) frees
 * its wasm memory.
 */
export function* imageJobSteps(k: Kernels, ws: Workspace, job: ImageJob): Generator<number, ImageResult, void> {
  ws.reset();
  ws.reserve(job.memoryBytes, `${job.kind} (one image)`);
  try {
    // The features were checked finite when the call was made (Workspace.checkFinite).
    const featuresPtr = ws.put(job.features);
    if (job.kind === 'patchContrast') return yield* patchContrastSteps(k, ws, job, featuresPtr);
    return yield* infoNCESteps(k, ws, job, featuresPtr);
  } finally {
    ws.reset();
  }
}

function* patchContrastSteps(
  k: Kernels,
  ws: Workspace,
  job: PatchContrastJob,
  featuresPtr: number,
): Generator<number, PatchContrastImage, void> {
  const n = (job.h / job.patchSize) * (job.w / job.patchSize);
  const maskPtr = ws.put(job.mask);
  const perPatchPtr = ws.alloc(n * 4),
    labelsPtr = ws.alloc(n);
  const state = k.patchContrastBegin(
    featuresPtr,
    maskPtr,
    job.c,
    job.h,
    job.w,
    job.patchSize,
    job.temperature,
    job.variant,
    labelsPtr,
    job.grad ? 1 : 0,
  );
  yield edgeWork(job);
  for (const step of planSteps(job)) {
    if (step.stage === 'columnMax') k.patchContrastColumnMax(state, step.s0, step.s1);
    else if (step.stage === 'stats') k.patchContrastStats(state, step.s0, step.s1, perPatchPtr);
    else k.patchContrastGrad(state, step.s0, step.s1, job.gradScale);
    yield step.work;
  }
  // The gradient overwrites the features in wasm memory: pooling has consumed them by then.
  const loss = k.patchContrastEnd(state, job.grad ? featuresPtr : 0);
  const result: PatchContrastImage = {
    loss,
    perPatch: ws.copyF32(perPatchPtr, n),
    labels: ws.u8(labelsPtr, n).slice(),
  };
  if (job.grad) result.grad = ws.copyF32(featuresPtr, job.features.length);
  return result;
}

function* infoNCESteps(
  k: Kernels,
  ws: Workspace,
  job: InfoNCEJob,
  featuresPtr: number,
): Generator<number, InfoNCEImage, void> {
  if (!job.used) {
    yield edgeWork(job);
    return { loss: null };
  }
  const j = job.queries.length,
    m = job.negatives.length;
  const qPtr = ws.put(job.queries),
    nPtr = ws.put(job.negatives);
  const perQueryPtr = ws.alloc(j * 4),
    positivePtr = ws.alloc(j * 4);
  const gradPtr = job.grad ? ws.allocZeroed(job.features.length * 4) : 0;
  const state = k.infoNCEBegin(
    featuresPtr,
    job.c,
    job.hw,
    qPtr,
    j,
    nPtr,
    m,
    job.temperature,
    job.positive,
    positivePtr,
  );
  yield edgeWork(job);
  for (const step of planSteps(job)) {
    k.infoNCEStrips(state, step.s0, step.s1, job.gradScale, perQueryPtr, positivePtr, job.grad ? 1 : 0);
    yield step.work;
  }
  const loss = k.infoNCEEnd(state, gradPtr);
  const result: InfoNCEImage = { loss, perQuery: ws.copyF32(perQueryPtr, j) };
  if (job.grad) result.grad = ws.copyF32(gradPtr, job.features.length);
  return result;
}

/**
 * The buffers a job or result hands over instead of copying (worker messages). A job moves only its
 * features and mask, the call's own copies; its index lists are copied, as the call's result reads
 * them again.
 */
export function transferList(value: ImageJob | ImageResult): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const views = 'kind' in value ? [value.features, 'mask' in value ? value.mask : undefined] : Object.values(value);
  for (const v of views) if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}
