// Per-image jobs: the unit of work a call is made of. A job carries its image's inputs, taken when
// the call is made (private copies), and is run as tasks (tasks.ts, image.ts): stage 1 (pooling or
// gathering), the similarity passes cut into parts — fixed ranges of strips that any wasm
// instance can run, their partial results reduced in part order — and the backward pass. The part
// plan depends on the call's sizes only, never on the thread count (docs/design.md §9). Within a
// task, the strips run in steps of bounded work (`planSteps`), so that the thread running it can
// yield, report progress and stop between them (docs/design.md §8).

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
  /** Pristine patches (patchLabels' rule, counted when the job is made: the plan depends on it). */
  pristine: number;
  /** Parts per pass at most (partsPerImage of the call's image count; MAX_PARTS when absent). */
  maxParts?: number;
  /** Images in the call: a pool with more threads than images splits each into bands (bands.ts). */
  images?: number;
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
  /** Parts per pass at most (partsPerImage of the call's image count; MAX_PARTS when absent). */
  maxParts?: number;
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
 * Work per step, in multiply-adds: about 2–5 ms on one core, so that the thread running a task
 * yields (every SLICE_MS, control.ts) and answers an abort well within 50 ms.
 */
export const STEP_WORK = 2 ** 25;
/**
 * Work per part of a similarity pass: about 10–20 ms on one core, against the millisecond or two
 * a part costs to post, unpack and reduce (its operands stay pinned on a worker: tasks.ts). A
 * pass under this is one part; at most MAX_PARTS parts, so that the reductions stay small.
 */
export let PART_WORK = 2 ** 27;
export const MAX_PARTS = 16;

/**
 * Parts per pass for each image of a call of `images` images: MAX_PARTS shared out, so that a
 * batch is not cut finer than the threads it can use, which would only add merges. It depends on
 * the call's sizes, never on the thread count (docs/design.md §9).
 */
export function partsPerImage(images: number): number {
  return Math.max(1, Math.ceil(MAX_PARTS / images));
}

/** Test hook (src/testing.ts): a smaller part size, so that small images split into parts too. */
export function setPartWork(work: number): void {
  PART_WORK = work;
}
/**
 * What one similarity costs besides its C multiply-adds (exp, log, σ and the row statistics), in
 * multiply-add equivalents: it dominates at small C.
 */
const PER_SIMILARITY = 24;

export type Stage = 'columnMax' | 'negatives' | 'positives' | 'negativeGrad' | 'queryLse' | 'strips' | 'queryGrad';

/** A step: a stage of the kernel over strips [s0, s1), and its work (the unit of progress). */
export interface Step {
  stage: Stage;
  s0: number;
  s1: number;
  work: number;
}

/** A part: strips [s0, s1) of one pass, run as one task, in steps. */
export interface Part {
  stage: Stage;
  s0: number;
  s1: number;
  steps: Step[];
}

/** n rounded up to a multiple of 8: the row and channel padding of the kernels' matrices. */
export const roundUp8 = (n: number) => (n + 7) & ~7;

/** Groups strips [s0, s1) of one stage into steps of about STEP_WORK (`cost(s)`: work of strip s). */
function group(stage: Stage, s0: number, s1: number, cost: (s: number) => number): Step[] {
  const out: Step[] = [];
  for (let a = s0; a < s1; ) {
    let b = a,
      work = 0;
    while (b < s1 && (b === a || work + cost(b) <= STEP_WORK)) work += cost(b++);
    out.push({ stage, s0: a, s1: b, work });
    a = b;
  }
  return out;
}

/**
 * Cuts the strips of one pass into K parts of about equal work, K = total / PART_WORK rounded,
 * within [1, min(strips, maxParts)]: a function of the sizes alone.
 */
function split(stage: Stage, strips: number, maxParts: number, cost: (s: number) => number): Part[] {
  let total = 0;
  for (let s = 0; s < strips; s++) total += cost(s);
  const k = Math.max(1, Math.min(strips, maxParts, Math.round(total / PART_WORK)));
  const parts: Part[] = [];
  let s0 = 0,
    done = 0;
  for (let i = 1; i <= k && s0 < strips; i++) {
    // The part ends where the running work first reaches i/k of the total (the last at the end).
    let s1 = s0;
    while (s1 < strips && (i === k || s1 === s0 || done + cost(s1) <= (total * i) / k)) done += cost(s1++);
    parts.push({ stage, s0, s1, steps: group(stage, s0, s1, cost) });
    s0 = s1;
  }
  return parts;
}

/**
 * Where patchContrast's rows lie (assembly/patch_contrast.ts): pristine rows from 0, forged rows
 * from `forgedStart` = roundUp8(P), each class block padded to 8 rows; the class strips are the
 * pristine block's strips of STRIP_ROWS, then the forged block's.
 */
export function patchLayout(n: number, pristine: number) {
  const forgedStart = roundUp8(pristine),
    np = forgedStart + roundUp8(n - pristine);
  const pristineStrips = Math.ceil(forgedStart / STRIP_ROWS);
  return {
    n,
    pristine,
    np,
    forgedStart,
    pristineStrips,
    classStrips: pristineStrips + Math.ceil((np - forgedStart) / STRIP_ROWS),
  };
}

/** Class strip s of a layout: its first row, its rows, and the end of its class block. */
export function classStrip(layout: ReturnType<typeof patchLayout>, s: number) {
  const forged = s >= layout.pristineStrips;
  const start = forged ? layout.forgedStart : 0,
    end = forged ? layout.np : layout.forgedStart;
  const i0 = start + (forged ? s - layout.pristineStrips : s) * STRIP_ROWS;
  return { i0, rows: Math.min(STRIP_ROWS, end - i0), end };
}

/**
 * Pristine patches of an H × W mask: labels by the kernel's rule (assembly/pooling.ts patchLabels:
 * a patch is forged when its mask mean, summed in float64 in row order, is > 0.5).
 */
export function countPristine(mask: Float32Array, h: number, w: number, p: number): number {
  let pristine = 0;
  for (let r = 0; r < h / p; r++)
    for (let q = 0; q < w / p; q++) {
      let sum = 0;
      for (let y = r * p; y < r * p + p; y++) for (let x = q * p; x < q * p + p; x++) sum += mask[y * w + x];
      if (!(sum / (p * p) > 0.5)) pristine++;
    }
  return pristine;
}

/** The passes of a job, each cut into parts, in the order they run (none for a skipped infoNCE image). */
export function planParts(job: ImageJob): Part[][] {
  const cp = roundUp8(job.c);
  const most = job.maxParts ?? MAX_PARTS;
  if (job.kind === 'patchContrast') {
    const layout = patchLayout((job.h / job.patchSize) * (job.w / job.patchSize), job.pristine);
    const { np, forgedStart, classStrips, pristineStrips } = layout;
    const uniform = Math.ceil(np / STRIP_ROWS);
    const half = (s: number) => Math.min(STRIP_ROWS, np - s * STRIP_ROWS) * (np - s * STRIP_ROWS);
    // The GEMMs of a class strip span its whole width; the exp and log work, about half of it.
    const block = (s: number) => {
      const strip = classStrip(layout, s);
      return strip.rows * (strip.end - strip.i0);
    };
    const other = (s: number) => classStrip(layout, s).rows * (s < pristineStrips ? np - forgedStart : forgedStart);
    const passes: Part[][] = [];
    if (job.variant === VARIANT_CFLNET) passes.push(split('columnMax', uniform, most, (s) => half(s) * (cp + 1)));
    passes.push(split('negatives', pristineStrips, most, (s) => other(s) * (cp + 2 * PER_SIMILARITY)));
    const k = job.grad ? 3 : 1;
    passes.push(split('positives', classStrips, most, (s) => block(s) * (k * cp + PER_SIMILARITY)));
    if (job.grad && forgedStart > 0 && np > forgedStart)
      passes.push(split('negativeGrad', pristineStrips, most, (s) => other(s) * (3 * cp + PER_SIMILARITY)));
    return passes.filter((pass) => pass.length > 0);
  }
  if (!job.used) return [];
  const jp = roundUp8(job.queries.length),
    mp = roundUp8(job.negatives.length);
  const strips = Math.ceil(jp / STRIP_ROWS);
  const rows = (s: number) => Math.min(STRIP_ROWS, jp - s * STRIP_ROWS);
  const negatives = split('strips', strips, most, (s) => rows(s) * mp * ((job.grad ? 3 : 1) * cp + PER_SIMILARITY));
  if (job.positive !== POSITIVE_MEAN_EXP) return [negatives];
  // mean-exp: the query block's upper half-strips, before (LSE) and after (gradient) the negatives.
  const half = (s: number) => rows(s) * (jp - s * STRIP_ROWS);
  const passes = [split('queryLse', strips, most, (s) => half(s) * (cp + 2 * PER_SIMILARITY)), negatives];
  if (job.grad) passes.push(split('queryGrad', strips, most, (s) => half(s) * (3 * cp + PER_SIMILARITY)));
  return passes;
}

/** Every step of a job, in order. */
export function planSteps(job: ImageJob): Step[] {
  return planParts(job).flatMap((pass) => pass.flatMap((part) => part.steps));
}

/** Work of the stages around the similarity passes (copies, pooling, gathering), in the same units. */
export function edgeWork(job: ImageJob): number {
  return job.features.length;
}

/** The work units a job reports in all (its steps and the work around them). */
export function jobWork(job: ImageJob): number {
  return planSteps(job).reduce((sum, step) => sum + step.work, edgeWork(job));
}

export const VARIANT_CFLNET = 1;
export const POSITIVE_MEAN_EXP = 1;
