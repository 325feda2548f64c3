// One patchContrast image as a plan (plan.ts): stage 1 (pooling, whole or in bands: bands.ts),
// each similarity pass as its parts — all parts of a pass started together, on whatever instances
// the executor has — then the backward pass. The parts' results are merged here in part order:
// row results placed, column maxima taken, partial gradients summed part after part. The parts
// depend on the call's sizes alone (jobs.ts planParts), so the bits do not depend on the thread
// count or the driver (docs/design.md §9).

import { VARIANT_CFLNET } from '../../codes.js';
import { type PatchLayout, patchLayout, roundUp8 } from '../wasm/layout.js';
import type {
  DzSlot,
  PatchBackwardTask,
  PatchPartTask,
  PatchPoolResult,
  PatchPoolTask,
  Stage,
} from '../wasm/protocol.js';
import {
  bandBackwardTasks,
  bandPoolTasks,
  joinBandPools,
  planBands,
  sharedZ,
  slotSpans,
  slotsFit,
  spanRows,
} from './bands.js';
import { isShared } from '../copies.js';
import { edgeWork, type Part, type PatchContrastImage, type PatchContrastJob, planParts } from './jobs.js';
import { addInto64, maxInto, RunningLse } from './merge.js';
import { moved, newImageRun, type Plan, type PlanHost, result, results, start, startAll, type Ticket } from './plan.js';

/**
 * Where the parts' partial dZ go: summed here, part after part, into `sum`; or, for an image in
 * bands (bands.ts), left by each part in a slot of shared memory, which the bands sum
 * (docs/design.md §9).
 */
type PartialDz = { sum: Float32Array; slots?: undefined } | { slots: DzSlot[]; sum?: undefined };

/** What the passes of one image share: the job, its layout and parts, its row weights, and how a part starts. */
interface Passes {
  job: PatchContrastJob;
  layout: PatchLayout;
  cp: number;
  /** 1/|P| per row (rowWeights). */
  invP: Float32Array;
  host: PlanHost;
  /** Absent without a gradient. */
  dz?: PartialDz;
  start(stage: Stage, extra: Pick<PatchPartTask, 'cmax' | 'statA' | 'statB' | 'invP'>): Plan<Ticket<PatchPartTask>[]>;
}

/**
 * Stage 1's result: Z and its norms, and the features copy the backward pass writes the gradient
 * into (absent for an image pooled at call time: the gradient then takes a copy of its own).
 */
type Stage1 = Omit<PatchPoolResult, 'spare'> & { spare?: Float32Array };

export function* patchImage(job: PatchContrastJob, host: PlanHost): Plan<PatchContrastImage> {
  const layout = patchLayout(job.labels.length, job.pristine);
  const bands = planBands(job, host.threads);
  const pool = yield* poolStage(job, bands, host);
  // With workers, the parts' operand in shared memory: each worker's first part carries it uncopied.
  const z = host.threads > 1 ? host.copies.shared(pool.z) : pool.z;
  const banded = bands.length > 1;
  // With workers and shared memory the parts leave their dZ rows in slots, which the backward
  // tasks sum: the calling thread sums none (bands.ts; one band for an image not split).
  const slotted = host.threads > 1 && isShared(z) && slotsFit(job);
  const dz: PartialDz | undefined = !job.grad
    ? undefined
    : slotted
      ? { slots: [] }
      : { sum: new Float32Array(layout.np * roundUp8(job.c)) };
  const s = passesOf(job, layout, host, z, dz);
  const cmax = job.variant === VARIANT_CFLNET ? yield* columnMaxPass(s) : undefined;
  const statA = yield* negativesPass(s, cmax);
  const { image, statB } = yield* positivesPass(s, cmax, statA);
  if (dz) yield* negativeGradPass(s, { cmax, statA, statB, invP: s.invP });
  // The slots' backward tasks read the shared Z; the others take the image's own.
  if (dz) image.grad = yield* backwardStage(job, bands, dz.slots ? { ...pool, z } : pool, dz, host);
  else host.copies.recycle(pool.spare);
  // Every task has answered: no worker reads a shared copy any more (a stopped call drops them).
  if (z !== pool.z) host.copies.recycle(z);
  host.copies.recycle(...(dz?.slots ?? []).map((slot) => slot.rows));
  // Z taken from the copies (bands, or pooled at call time; one the backward task moved is gone).
  if (banded || job.pooled) host.copies.recycle(pool.z);
  return image;
}

/**
 * Stage 1: Z and its norms in the image's row layout, pooled when the call was made, or by one task
 * or one per band.
 */
function* poolStage(job: PatchContrastJob, bands: [number, number][], host: PlanHost): Plan<Stage1> {
  if (job.pooled) {
    host.advance(edgeWork(job));
    return job.pooled;
  }
  const np = patchLayout(job.labels.length, job.pristine).np;
  if (bands.length > 1) {
    const z = sharedZ(job, host.copies);
    const tickets = yield* startAll(
      bandPoolTasks(job, bands, z).map((task): [PatchPoolTask, ArrayBuffer[]] => [task, []]),
    );
    return joinBandPools(yield* results(tickets), job, z);
  }
  const { rowOf, c, h, w, patchSize: p, memoryBytes } = job;
  const features = job.features as Float32Array;
  const task: PatchPoolTask = { kind: 'patchPool', features, rowOf, rows: np, c, h, w, p, memoryBytes };
  return yield* result(yield* start(task, moved(features)));
}

function passesOf(
  job: PatchContrastJob,
  layout: PatchLayout,
  host: PlanHost,
  z: Float32Array,
  dz: PartialDz | undefined,
): Passes {
  const plan = planParts(job);
  const base = {
    kind: 'patchPart' as const,
    image: newImageRun(),
    z,
    n: layout.n,
    c: job.c,
    pristine: job.pristine,
    variant: job.variant,
    temperature: job.temperature,
    gradScale: job.gradScale,
    grad: job.grad,
    memoryBytes: job.memoryBytes,
  };
  const cp = roundUp8(job.c);
  // A part's slot: the rows it writes, in the order the slots are summed (part order, pass order).
  const slotOf = (part: Part): Pick<PatchPartTask, 'dzInto'> => {
    const spans = slotSpans(layout, part);
    if (!dz?.slots || spans.length === 0) return {};
    const rows = host.copies.take(spanRows(spans) * cp, true);
    dz.slots.push({ rows, spans });
    return { dzInto: rows };
  };
  return {
    job,
    layout,
    cp,
    invP: rowWeights(layout, job.variant),
    host,
    dz,
    *start(stage, extra) {
      const parts = plan.find((pass) => pass[0].stage === stage) ?? [];
      const tasks = parts.map((part): [PatchPartTask, ArrayBuffer[]] => [
        { ...base, ...extra, stage: stage as PatchPartTask['stage'], steps: part.steps, ...slotOf(part) },
        [],
      ]);
      return yield* startAll(tasks);
    },
  };
}

/** cflnet's column maxima: the merge order cannot change a bit, but it is part order all the same. */
function* columnMaxPass(s: Passes): Plan<Float32Array> {
  const cmax = new Float32Array(s.layout.np);
  for (const ticket of yield* s.start('columnMax', {})) {
    const r = yield* result(ticket);
    maxInto(cmax, r.cmax as Float32Array);
    s.host.done(r);
  }
  return cmax;
}

/**
 * Pristine rows' statistics are complete in their parts; the forged rows' partials are merged in
 * part order, in float64: exact's LSE = m + ln(sum), cflnet's D = Σ sum_k.
 */
function* negativesPass(s: Passes, cmax: Float32Array | undefined): Plan<Float32Array> {
  const { layout } = s;
  const forged = layout.n - layout.pristine;
  const statA = new Float32Array(layout.np);
  const running = new RunningLse(forged);
  const exact = s.job.variant !== VARIANT_CFLNET;
  for (const ticket of yield* s.start('negatives', { cmax })) {
    const r = yield* result(ticket);
    statA.set(r.statA as Float32Array, r.row0);
    if (exact) running.merge(r.colMax as Float32Array, r.colSum as Float32Array, forged);
    else addInto64(running.sum, r.colSum as Float32Array, forged);
    s.host.done(r);
  }
  const invP = s.invP;
  for (let f = 0; f < forged; f++) {
    const row = layout.forgedStart + f;
    statA[row] = !exact ? running.sum[f] : invP[row] > 0 ? running.lse(f) : 3e38;
  }
  return statA;
}

/**
 * 1/|P| per row of a patch layout, 0 for a row whose loss is 0 by definition: no positive, or
 * (exact) no negative (docs/spec.md §4).
 */
function rowWeights(layout: PatchLayout, variant: number): Float32Array {
  const invP = new Float32Array(layout.np);
  const forged = layout.n - layout.pristine;
  const cflnet = variant === VARIANT_CFLNET;
  if (layout.pristine > 1 && (cflnet || forged > 0)) invP.fill(1 / (layout.pristine - 1), 0, layout.pristine);
  if (forged > 1 && (cflnet || layout.pristine > 0))
    invP.fill(1 / (forged - 1), layout.forgedStart, layout.forgedStart + forged);
  return invP;
}

/** The positives' sums, part after part; their partial dZ summed in the same order; then the rows' losses. */
function* positivesPass(s: Passes, cmax: Float32Array | undefined, statA: Float32Array) {
  const { layout, cp, invP } = s;
  const np = layout.np;
  const lossSum = new Float64Array(np),
    bSum = new Float64Array(np);
  for (const ticket of yield* s.start('positives', { cmax, statA, invP })) {
    const r = yield* result(ticket);
    addInto64(lossSum, r.lossSum as Float64Array);
    addInto64(bSum, r.bSum as Float64Array);
    if (s.dz?.sum) s.host.add(s.dz.sum, r.dz as Float32Array, r.row0 * cp);
    s.host.done(r);
  }
  return imageLoss(s, lossSum, bSum);
}

/**
 * L_i = lossSum_i/|P_i| and b_i = bSum_i/|P_i| (0 for a row whose loss is 0 by definition); the
 * image's loss, its rows summed in order.
 */
function imageLoss(s: Passes, lossSum: Float64Array, bSum: Float64Array) {
  const { layout, job, invP } = s;
  const np = layout.np;
  const rowLoss = new Float64Array(np),
    statB = new Float32Array(np);
  for (let i = 0; i < np; i++) {
    if (invP[i] === 0) continue;
    const positives = (i < layout.forgedStart ? layout.pristine : layout.n - layout.pristine) - 1;
    rowLoss[i] = lossSum[i] / positives;
    statB[i] = bSum[i] / positives;
  }
  let total = 0;
  for (let i = 0; i < np; i++) total += rowLoss[i];
  const perPatch = new Float32Array(layout.n);
  for (let k = 0; k < layout.n; k++) perPatch[k] = rowLoss[job.rowOf[k]];
  const image: PatchContrastImage = { loss: total / layout.n, perPatch, labels: job.labels };
  return { image, statB };
}

function* negativeGradPass(s: Passes, stats: Pick<PatchPartTask, 'cmax' | 'statA' | 'statB' | 'invP'>) {
  for (const ticket of yield* s.start('negativeGrad', stats)) {
    const r = yield* result(ticket);
    if (s.dz?.sum) {
      s.host.add(s.dz.sum, r.dz as Float32Array, r.row0 * s.cp);
      s.host.add(s.dz.sum, r.forgedDz as Float32Array, s.layout.forgedStart * s.cp);
    }
    s.host.done(r);
  }
}

/**
 * Stage 3: the gradient of the features, into the image's copy of them or (pooled at call time) a
 * copy of its own, in shared memory beside a shared Z; whole, or band by band.
 */
function* backwardStage(
  job: PatchContrastJob,
  bands: [number, number][],
  pool: Stage1,
  dz: PartialDz,
  host: PlanHost,
): Plan<Float32Array> {
  const { c, h, w, patchSize: p, memoryBytes } = job;
  if (dz.slots) {
    // Each band's gradient goes into its rows of an array in shared memory.
    const out = pool.spare && isShared(pool.spare) ? pool.spare : host.copies.take(c * h * w, true);
    if (out !== pool.spare) host.copies.recycle(pool.spare);
    const tasks = bandBackwardTasks(job, bands, { ...pool, out }, dz.slots);
    yield* results(yield* startAll(tasks.map((task): [PatchBackwardTask, ArrayBuffer[]] => [task, []])));
    return out;
  }
  const out = pool.spare ?? host.copies.take(c * h * w, isShared(pool.z));
  const sum = dz.sum;
  const task: PatchBackwardTask = {
    kind: 'patchBackward',
    ...{ out, rows: pool.norms.length, z: pool.z, dz: sum, norms: pool.norms, rowOf: job.rowOf },
    ...{ c, h, w, p, memoryBytes },
  };
  const back = yield* result(yield* start(task, moved(out, pool.z, sum, pool.norms)));
  return back.grad;
}
