// One image job as tasks (tasks.ts): stage 1, then each similarity pass as its parts — all parts
// of a pass at once, on whatever instances the executor has — then the backward pass (for a
// patchContrast call with fewer images than threads, stage 1 and the backward pass in bands:
// bands.ts). The parts' results are merged here, in part order: row results are placed, column
// maxima taken, partial gradients summed part after part. The parts depend on the call's sizes
// alone (jobs.ts planParts), so the bits do not depend on the thread count (docs/design.md §9).

import { bandRows, joinBandPools, planBands } from './bands.js';
import type { CallControl } from './control.js';
import { isShared, recycle, sharedCopy } from './recycle.js';
import {
  edgeWork,
  type ImageJob,
  type ImageResult,
  type InfoNCEImage,
  type InfoNCEJob,
  type PatchContrastImage,
  type PatchContrastJob,
  patchLayout,
  POSITIVE_MEAN_EXP,
  planParts,
  roundUp8,
  type Stage,
  VARIANT_CFLNET,
} from './jobs.js';
import type {
  BackwardResult,
  NceGatherResult,
  NcePartResult,
  PatchPartResult,
  PatchPartTask,
  PatchPoolResult,
  NcePartTask,
  Task,
  TaskResult,
} from './tasks.js';

/**
 * Runs a task somewhere; `transfer` lists the buffers the task may take (a worker's message moves
 * them): the caller no longer reads them.
 */
export type TaskRunner = (task: Task, transfer: ArrayBuffer[]) => Promise<TaskResult>;

/** Names each image run, so that an instance can tell whose operands it holds (tasks.ts). */
let nextImage = 1;

/** The buffers of `views`, for a transfer list (a shared buffer is never moved). */
function moved(...views: ArrayBufferView[]): ArrayBuffer[] {
  return views.map((v) => v.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

/** acc[offset + i] += part[i], float32 (Workspace.addF32: the same sums in wasm SIMD). */
export type AddF32 = (acc: Float32Array, part: Float32Array, offset: number) => void;

/** How the parts' results are merged: their float32 sums, and their buffers once merged. */
export interface Merger {
  add: AddF32;
  /** A part's result, merged: nothing reads it any more, so its buffers may hold later results. */
  done(result: TaskResult): void;
}

/** `threads`: the executor's; with more than the call's images, a patchContrast image runs in bands (bands.ts). */
export function runImage(
  job: ImageJob,
  control: CallControl,
  run: TaskRunner,
  merger: Merger,
  threads = 1,
): Promise<ImageResult> {
  return job.kind === 'patchContrast'
    ? runPatchImage(job, control, run, merger, threads)
    : runNceImage(job, control, run, merger, threads);
}

/**
 * 1/|P| per row of a patch layout, 0 for a row whose loss is 0 by definition: no positive, or
 * (exact) no negative (docs/spec.md §4).
 */
function patchInvP(layout: ReturnType<typeof patchLayout>, variant: number): Float32Array {
  const invP = new Float32Array(layout.np);
  const forged = layout.n - layout.pristine;
  const cflnet = variant === VARIANT_CFLNET;
  if (layout.pristine > 1 && (cflnet || forged > 0)) invP.fill(1 / (layout.pristine - 1), 0, layout.pristine);
  if (forged > 1 && (cflnet || layout.pristine > 0))
    invP.fill(1 / (forged - 1), layout.forgedStart, layout.forgedStart + forged);
  return invP;
}

/** acc += part, float64 element by element (the first `count` elements; all by default). */
function addInto64(acc: Float64Array, part: Float64Array | Float32Array, count = part.length): void {
  for (let i = 0; i < count; i++) acc[i] += part[i];
}

/**
 * Merges a part's running (maximum, sum of e^(s − maximum)) pairs into the call's, for the first
 * `count` rows, in float64: m = max(m, m_k), sum = sum·e^(m_old − m) + sum_k·e^(m_k − m). A row the
 * part did not touch (sum_k 0) is left alone. LSE = m + ln(sum) once every part is in.
 */
function mergeLse(top: Float64Array, sum: Float64Array, partTop: Float32Array, partSum: Float32Array, count: number) {
  for (let i = 0; i < count; i++) {
    if (partSum[i] === 0) continue;
    const m = Math.max(top[i], partTop[i]);
    sum[i] = sum[i] * Math.exp(top[i] - m) + partSum[i] * Math.exp(partTop[i] - m);
    top[i] = m;
  }
}

/**
 * The tasks of one pass, started together. They are awaited in order, so a later one may fail
 * while an earlier one is awaited: its failure stops the call at once (the other tasks are dropped
 * and the call rejects with it), rather than surfacing as an unhandled rejection.
 */
function started(tasks: Promise<TaskResult>[], control: CallControl): Promise<TaskResult>[] {
  for (const task of tasks) task.catch((error) => control.stop(error));
  return tasks;
}

async function runPatchImage(
  job: PatchContrastJob,
  control: CallControl,
  run: TaskRunner,
  { add, done }: Merger,
  threads: number,
): Promise<PatchContrastImage> {
  const { c, h, w, patchSize: p, memoryBytes } = job;
  const n = (h / p) * (w / p),
    cp = roundUp8(c);
  const layout = patchLayout(n, job.pristine);
  const np = layout.np;
  const passes = planParts(job);
  const bands = planBands(job, threads);
  const whole = bands.length === 1;
  const pool = whole
    ? ((await run(
        { kind: 'patchPool', features: job.features, mask: job.mask, c, h, w, p, memoryBytes },
        moved(job.features, job.mask),
      )) as PatchPoolResult)
    : joinBandPools(
        (await Promise.all(
          started(
            bands.map(([y0, y1]) => {
              const mask = job.mask.slice(y0 * w, y1 * w);
              return run({ kind: 'patchPool', features: job.features, mask, c, h, w, p, memoryBytes, band: [y0, y1] }, [
                mask.buffer,
              ]);
            }),
            control,
          ),
        )) as PatchPoolResult[],
        c,
      );
  if (pool.pristine !== job.pristine)
    throw new Error(`forgery-losses: internal error: ${pool.pristine} pristine patches, planned ${job.pristine}`);
  control.throwIfStopped();
  // With workers, the parts' operand in shared memory: each worker's first part carries it uncopied.
  const z = threads > 1 ? sharedCopy(pool.z) : pool.z;
  /** Every part has answered: no worker reads the shared copy any more. */
  const partsDone = () => {
    if (z !== pool.z) recycle(z);
  };
  const base = {
    kind: 'patchPart' as const,
    image: nextImage++,
    z,
    n,
    c,
    pristine: job.pristine,
    variant: job.variant,
    temperature: job.temperature,
    gradScale: job.gradScale,
    grad: job.grad,
    memoryBytes,
  };
  const runPass = (stage: Stage, extra: Pick<PatchPartTask, 'cmax' | 'statA' | 'statB' | 'invP'>) =>
    started(
      (passes.find((pass) => pass[0].stage === stage) ?? []).map((part) =>
        run({ ...base, ...extra, stage: stage as PatchPartTask['stage'], steps: part.steps }, []),
      ),
      control,
    );
  let cmax: Float32Array | undefined;
  if (job.variant === VARIANT_CFLNET) {
    // Maxima: the merge order cannot change a bit, but it is part order all the same.
    cmax = new Float32Array(np);
    for (const part of runPass('columnMax', {})) {
      const r = (await part) as PatchPartResult;
      const values = r.cmax as Float32Array;
      for (let i = 0; i < np; i++) if (values[i] > cmax[i]) cmax[i] = values[i];
      done(r);
    }
  }
  // Pristine rows' statistics are complete in their parts; the forged rows' partials are merged in
  // part order, in float64: exact's LSE = m + ln(sum) (m = max, sum = Σ sum_k·e^(m_k − m)),
  // cflnet's D = Σ sum_k.
  const forged = n - job.pristine;
  const statA = new Float32Array(np),
    top = new Float64Array(forged).fill(-3e38),
    sum = new Float64Array(forged);
  const exact = job.variant !== VARIANT_CFLNET;
  for (const part of runPass('negatives', { cmax })) {
    const r = (await part) as PatchPartResult;
    statA.set(r.statA as Float32Array, r.row0);
    if (exact) mergeLse(top, sum, r.colMax as Float32Array, r.colSum as Float32Array, forged);
    else addInto64(sum, r.colSum as Float32Array, forged);
    done(r);
  }
  const invP = patchInvP(layout, job.variant);
  for (let f = 0; f < forged; f++)
    statA[layout.forgedStart + f] = !exact
      ? sum[f]
      : invP[layout.forgedStart + f] > 0
        ? top[f] + Math.log(sum[f])
        : 3e38;
  // The positives' sums, part after part; their partial dZ, summed in the same order.
  const lossSum = new Float64Array(np),
    bSum = new Float64Array(np);
  const dz = job.grad ? new Float32Array(np * cp) : undefined;
  for (const part of runPass('positives', { cmax, statA, invP })) {
    const r = (await part) as PatchPartResult;
    addInto64(lossSum, r.lossSum as Float64Array);
    addInto64(bSum, r.bSum as Float64Array);
    if (dz) add(dz, r.dz as Float32Array, r.row0 * cp);
    done(r);
  }
  // L_i = lossSum_i/|P_i| and b_i = bSum_i/|P_i| (0 for a row whose loss is 0 by definition).
  const rowLoss = new Float64Array(np),
    statB = new Float32Array(np);
  for (let i = 0; i < np; i++) {
    if (invP[i] === 0) continue;
    const positives = (i < layout.forgedStart ? job.pristine : n - job.pristine) - 1;
    rowLoss[i] = lossSum[i] / positives;
    statB[i] = bSum[i] / positives;
  }
  // The loss of the image: rows summed in order.
  let total = 0;
  for (let i = 0; i < np; i++) total += rowLoss[i];
  const perPatch = new Float32Array(n);
  for (let k = 0; k < n; k++) perPatch[k] = rowLoss[pool.rowOf[k]];
  const result: PatchContrastImage = { loss: total / n, perPatch, labels: pool.labels };
  if (!dz) {
    partsDone();
    recycle(pool.spare);
    return result;
  }
  for (const part of runPass('negativeGrad', { cmax, statA, statB, invP })) {
    const r = (await part) as PatchPartResult;
    add(dz, r.dz as Float32Array, r.row0 * cp);
    add(dz, r.forgedDz as Float32Array, layout.forgedStart * cp);
    done(r);
  }
  partsDone();
  control.throwIfStopped();
  if (!whole) {
    // Each band's gradient goes into its rows of the shared features copy.
    const kw = w / p;
    await Promise.all(
      started(
        bands.map(([y0, y1]) => {
          const rows = bandRows(pool, dz, (y0 / p) * kw, (y1 / p) * kw, c);
          const task = { kind: 'patchBackward' as const, out: job.features, rows: rows.rowOf.length, ...rows };
          return run({ ...task, c, h, w, p, memoryBytes, band: [y0, y1] }, moved(rows.z, rows.dz, rows.norms));
        }),
        control,
      ),
    );
    result.grad = job.features;
    return result;
  }
  const back = (await run(
    {
      kind: 'patchBackward',
      out: pool.spare,
      rows: np,
      z: pool.z,
      dz,
      norms: pool.norms,
      rowOf: pool.rowOf,
      c,
      h,
      w,
      p,
      memoryBytes,
    },
    moved(pool.spare, pool.z, dz, pool.norms),
  )) as BackwardResult;
  result.grad = back.grad;
  return result;
}

async function runNceImage(
  job: InfoNCEJob,
  control: CallControl,
  run: TaskRunner,
  { add, done }: Merger,
  threads: number,
): Promise<InfoNCEImage> {
  if (!job.used) {
    control.advance(edgeWork(job));
    recycle(job.features);
    return { loss: null };
  }
  const { c, hw, temperature, positive, memoryBytes } = job;
  const j = job.queries.length,
    m = job.negatives.length;
  const jp = roundUp8(j),
    cp = roundUp8(c);
  const passes = planParts(job);
  // The index lists are copied, not moved: the call's result reads them again.
  const g = (await run(
    {
      kind: 'nceGather',
      features: job.features,
      queries: job.queries,
      negatives: job.negatives,
      c,
      hw,
      temperature,
      positive,
      memoryBytes,
    },
    moved(job.features),
  )) as NceGatherResult;
  control.throwIfStopped();
  // With workers, the parts' operands in shared memory, as for patchContrast.
  const [u, x] = threads > 1 ? [sharedCopy(g.u), sharedCopy(g.x)] : [g.u, g.x];
  const partsDone = () => {
    if (u !== g.u) recycle(u);
    if (x !== g.x) recycle(x);
  };
  const base = {
    kind: 'ncePart' as const,
    image: nextImage++,
    u,
    x,
    j,
    m,
    c,
    temperature,
    positive,
    gradScale: job.gradScale,
    grad: job.grad,
    memoryBytes,
  };
  const runPass = (stage: Stage, extra: Pick<NcePartTask, 'l0' | 'lse' | 'dl0'>) =>
    started(
      (passes.find((pass) => pass[0].stage === stage) ?? []).map((part) =>
        run({ ...base, ...extra, stage: stage as NcePartTask['stage'], steps: part.steps }, []),
      ),
      control,
    );
  // ℓ0: mean-logit's from stage 1; mean-exp's from the query block's maxima and sums, merged in
  // part order (in float64: m = max, sum = Σ sum_k·e^(m_k − m)), LSE = m + ln(sum).
  let l0 = g.l0,
    lse: Float32Array | undefined;
  if (positive === POSITIVE_MEAN_EXP) {
    const top = new Float64Array(jp).fill(-3e38),
      sum = new Float64Array(jp);
    for (const part of runPass('queryLse', {})) {
      const r = (await part) as NcePartResult;
      mergeLse(top, sum, r.lseMax as Float32Array, r.lseSum as Float32Array, j);
      done(r);
    }
    lse = new Float32Array(jp);
    l0 = new Float32Array(jp);
    const logJm1 = Math.fround(Math.log(j - 1));
    for (let a = 0; a < j; a++) {
      lse[a] = top[a] + Math.log(sum[a]);
      l0[a] = lse[a] - logJm1;
    }
  }
  const negatives = runPass('strips', { l0 });
  const perQuery = new Float32Array(j),
    dl0 = new Float32Array(jp);
  for (const part of negatives) {
    const r = (await part) as NcePartResult;
    perQuery.set(r.perQuery as Float32Array, r.row0);
    dl0.set(r.dl0 as Float32Array, r.row0);
    if (!job.grad) done(r);
  }
  // Queries summed in order, as one instance running every strip would.
  let total = 0;
  for (let a = 0; a < j; a++) total += perQuery[a];
  const result: InfoNCEImage = { loss: total / j, perQuery };
  if (!job.grad) {
    partsDone();
    recycle(g.spare);
    return result;
  }
  // dU: the negatives' parts (their own rows: placed), then the query block's (summed), each in
  // part order. dX: the first part's, then the others' summed into it.
  const du = new Float32Array(jp * cp);
  let dx: Float32Array | undefined;
  for (const part of negatives) {
    const r = (await part) as NcePartResult;
    du.set(r.du as Float32Array, r.row0 * cp);
    if (dx) add(dx, r.dx as Float32Array, 0);
    else [dx, r.dx] = [r.dx as Float32Array, undefined];
    done(r);
  }
  if (!dx) throw new Error('forgery-losses: internal error: an infoNCE image without a part');
  for (const part of runPass('queryGrad', { lse, dl0 })) {
    const r = (await part) as NcePartResult;
    add(du, r.du as Float32Array, r.row0 * cp);
    done(r);
  }
  partsDone();
  control.throwIfStopped();
  const back = (await run(
    {
      kind: 'nceBackward',
      out: g.spare,
      u: g.u,
      du,
      x: g.x,
      dx,
      normsU: g.normsU,
      normsX: g.normsX,
      queries: job.queries,
      negatives: job.negatives,
      sumU: g.sumU,
      dl0,
      c,
      hw,
      temperature,
      positive,
      memoryBytes,
    },
    moved(g.spare, g.u, du, g.x, dx),
  )) as BackwardResult;
  result.grad = back.grad;
  return result;
}

/**
 * The batch gradient from the images' (an image without one contributes zeros): into `into` when
 * given, else a fresh array — or, for one image, that image's own array, which is already the
 * call's (no copy of a large gradient), unless it is shared memory (bands.ts).
 */
export function joinImages(
  images: { grad?: Float32Array }[],
  b: number,
  chw: number,
  into?: Float32Array,
): Float32Array {
  const own = images[0].grad;
  if (!into && b === 1 && own?.length === chw && !isShared(own)) return own;
  const out = into ?? new Float32Array(b * chw);
  images.forEach((image, img) => {
    if (image.grad) out.set(image.grad, img * chw);
    else out.fill(0, img * chw, (img + 1) * chw);
  });
  // Copied out: each image's array (its features copy, runtime/recycle.ts) serves the next call.
  recycle(...images.map((image) => image.grad));
  return out;
}
