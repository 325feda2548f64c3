// Per-image jobs: the unit of work a call is made of. A job carries its image's inputs, taken when
// the call is made (private copies), and runs as tasks (wasm/protocol.ts, image plans): stage 1
// (pooling or gathering), the similarity passes cut into parts — fixed ranges of strips that any
// wasm instance can run, their partial results reduced in part order — and the backward pass. The
// part plan depends on the call's sizes only, never on the thread count (docs/design.md §9). Within
// a task the strips run in steps of bounded work, so that the thread running it can yield, report
// progress and stop between them (docs/design.md §8).

import { POSITIVE_MEAN_EXP, VARIANT_CFLNET } from '../../codes.js';
import { classStrip, patchLayout, roundUp8, STRIP_ROWS } from '../wasm/layout.js';
import type { Stage, Step } from '../wasm/protocol.js';

/** An image's Z (N_p × C_p, its padding rows zero) and its row norms, pooled when the call was made. */
export interface PooledImage {
  z: Float32Array;
  norms: Float64Array;
}

export interface PatchContrastJob {
  kind: 'patchContrast';
  /** The image pooled at call time, or (absent) its C × H × W features, the call's own copy. */
  pooled?: PooledImage;
  features?: Float32Array;
  /** Patch labels (1 = forged) and each patch's row of Z (wasm/layout.ts), made when the call is made. */
  labels: Uint8Array;
  rowOf: Int32Array;
  pristine: number;
  c: number;
  h: number;
  w: number;
  patchSize: number;
  temperature: number;
  variant: number;
  gradScale: number;
  grad: boolean;
  /** Parts per pass at most (partsPerImage of the call's image count). */
  maxParts: number;
  /** Work per part of a similarity pass (PART_WORK, or a test's). */
  partWork: number;
  /** Floats an image may hold in its parts' dZ slots (MAX_SLOT_FLOATS, or a test's). */
  maxSlotFloats: number;
  /** Images in the call: a pool with more threads than images splits each into bands (bands.ts). */
  images: number;
  /** Wasm memory the image needs, reserved before any work. */
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
  maxParts: number;
  partWork: number;
  /** Floats an image may hold in its parts' dU and dX slots (MAX_SLOT_FLOATS, or a test's). */
  maxSlotFloats: number;
  /** Wasm memory the image needs, reserved before any work. */
  memoryBytes: number;
}

export interface InfoNCEImage {
  loss: number | null;
  perQuery?: Float32Array;
  grad?: Float32Array;
}

export type ImageJob = PatchContrastJob | InfoNCEJob;
export type ImageResult = PatchContrastImage | InfoNCEImage;
/** The result of a job of type J. */
export type ImageResultOf<J extends ImageJob> = J extends PatchContrastJob ? PatchContrastImage : InfoNCEImage;

/**
 * Work per step, in multiply-adds: a few milliseconds on one core, so that the thread running a
 * task yields (every SLICE_MS, control.ts) and answers an abort well within 50 ms.
 */
export const STEP_WORK = 2 ** 25;
/**
 * Work per part of a similarity pass: far more than a part costs to post, unpack and reduce
 * (bench/RESULTS.md, the timelines). A pass under this is one part; at most
 * MAX_PARTS parts, so that the reductions stay small.
 */
export const PART_WORK = 2 ** 27;
export const MAX_PARTS = 16;

/**
 * Floats an image may hold in its parts' gradient slots (64 MiB; 9.3 M at `pc1`, 3.9 M for an
 * image of `nce-full`): past it, the image has no slots (and a patchContrast image is not split
 * into bands, bands.ts), and the calling thread sums its parts' gradients, to the same bits.
 */
export const MAX_SLOT_FLOATS = 2 ** 24;

/**
 * Parts per pass for each image of a call of `images` images: MAX_PARTS shared out, so that a
 * batch is not cut finer than the threads it can use, which would only add merges. It depends on
 * the call's sizes, never on the thread count (docs/design.md §9).
 */
export function partsPerImage(images: number): number {
  return Math.max(1, Math.ceil(MAX_PARTS / images));
}

/**
 * What one similarity costs besides its C multiply-adds (exp, log, σ and the row statistics), in
 * multiply-add equivalents: it dominates at small C.
 */
const PER_SIMILARITY = 24;

/** A part: strips [s0, s1) of one pass, run as one task, in steps. */
export interface Part {
  stage: Stage;
  s0: number;
  s1: number;
  steps: Step[];
}

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
 * Cuts the strips of one pass into K parts of about equal work, K = total / partWork rounded,
 * within [1, min(strips, job.maxParts)]: a function of the sizes alone.
 */
function split(job: ImageJob, stage: Stage, strips: number, cost: (s: number) => number): Part[] {
  let total = 0;
  for (let s = 0; s < strips; s++) total += cost(s);
  const k = Math.max(1, Math.min(strips, job.maxParts, Math.round(total / job.partWork)));
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

function patchPasses(job: PatchContrastJob): Part[][] {
  const cp = roundUp8(job.c);
  const layout = patchLayout(job.labels.length, job.pristine);
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
  if (job.variant === VARIANT_CFLNET) passes.push(split(job, 'columnMax', uniform, (s) => half(s) * (cp + 1)));
  passes.push(split(job, 'negatives', pristineStrips, (s) => other(s) * (cp + 2 * PER_SIMILARITY)));
  const k = job.grad ? 3 : 1;
  passes.push(split(job, 'positives', classStrips, (s) => block(s) * (k * cp + PER_SIMILARITY)));
  if (job.grad && forgedStart > 0 && np > forgedStart)
    passes.push(split(job, 'negativeGrad', pristineStrips, (s) => other(s) * (3 * cp + PER_SIMILARITY)));
  return passes.filter((pass) => pass.length > 0);
}

function ncePasses(job: InfoNCEJob): Part[][] {
  if (!job.used) return [];
  const cp = roundUp8(job.c);
  const jp = roundUp8(job.queries.length),
    mp = roundUp8(job.negatives.length);
  const strips = Math.ceil(jp / STRIP_ROWS);
  const rows = (s: number) => Math.min(STRIP_ROWS, jp - s * STRIP_ROWS);
  const negatives = split(job, 'strips', strips, (s) => rows(s) * mp * ((job.grad ? 3 : 1) * cp + PER_SIMILARITY));
  if (job.positive !== POSITIVE_MEAN_EXP) return [negatives];
  // mean-exp: the query block's upper half-strips, before (LSE) and after (gradient) the negatives.
  const half = (s: number) => rows(s) * (jp - s * STRIP_ROWS);
  const passes = [split(job, 'queryLse', strips, (s) => half(s) * (cp + 2 * PER_SIMILARITY)), negatives];
  if (job.grad) passes.push(split(job, 'queryGrad', strips, (s) => half(s) * (3 * cp + PER_SIMILARITY)));
  return passes;
}

/** The passes of a job, each cut into parts, in the order they run (none for a skipped infoNCE image). */
export function planParts(job: ImageJob): Part[][] {
  return job.kind === 'patchContrast' ? patchPasses(job) : ncePasses(job);
}

/** Every step of a job, in order. */
export function planSteps(job: ImageJob): Step[] {
  return planParts(job).flatMap((pass) => pass.flatMap((part) => part.steps));
}

/** Work of the stages around the similarity passes (copies, pooling, gathering), in the same units. */
export function edgeWork(job: ImageJob): number {
  return job.c * (job.kind === 'patchContrast' ? job.h * job.w : job.hw);
}

/** The work units a job reports in all (its steps and the work around them). */
export function jobWork(job: ImageJob): number {
  return planSteps(job).reduce((sum, step) => sum + step.work, edgeWork(job));
}
