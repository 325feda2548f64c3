// One infoNCE image as a plan (plan.ts): stage 1 (gathering U and X), the similarity passes as
// their parts — mean-exp's query block (its LSE before the negatives, its gradient after), the
// negatives — then the backward pass (the scatter). Merged in part order, as patch-image.ts. With
// workers and shared memory the parts leave their partial dU and dX in slots, which the backward
// task sums: the calling thread sums no gradient rows (docs/design.md §9).

import { POSITIVE_MEAN_EXP } from '../../codes.js';
import { canShare, isShared } from '../copies.js';
import { nceDuRows, roundUp8 } from '../wasm/layout.js';
import type {
  NceBackwardTask,
  NceGatherResult,
  NceGatherTask,
  NcePartResult,
  NcePartTask,
  NceSlot,
} from '../wasm/protocol.js';
import { edgeWork, type InfoNCEImage, type InfoNCEJob, type Part, planParts } from './jobs.js';
import { RunningLse } from './merge.js';
import { moved, newImageRun, type Plan, type PlanHost, result, start, startAll, type Ticket } from './plan.js';

type Extra = Pick<NcePartTask, 'l0' | 'lse' | 'dl0'>;

/** What the passes of one image share. */
interface Passes {
  job: InfoNCEJob;
  gather: NceGatherResult;
  jp: number;
  cp: number;
  host: PlanHost;
  /** The parts' slots, in the order they were started; absent where the calling thread merges. */
  slots?: NceSlot[];
  start(stage: NcePartTask['stage'], extra: Extra): Plan<Ticket<NcePartTask>[]>;
}

export function* nceImage(job: InfoNCEJob, host: PlanHost): Plan<InfoNCEImage> {
  if (!job.used) {
    host.advance(edgeWork(job));
    host.copies.recycle(job.features);
    return { loss: null };
  }
  // With workers, U and X are gathered into shared memory: the parts' operands, as for patchContrast.
  const gather = yield* gatherStage(job, host);
  const slotted = job.grad && host.threads > 1 && isShared(gather.u) && slotFloats(job) <= job.maxSlotFloats;
  const s = passesOf(job, gather, host, slotted ? [] : undefined);
  const { l0, lse } = job.positive === POSITIVE_MEAN_EXP ? yield* queryLsePass(s) : { l0: gather.l0, lse: undefined };
  const { image, dl0, parts } = yield* lossOf(s, yield* s.start('strips', { l0 }));
  let grads: Pick<NceBackwardTask, 'du' | 'dx' | 'slots'> | undefined;
  if (job.grad) {
    const merged = s.slots ? undefined : negativeGrads(s, parts);
    yield* queryGradPass(s, merged, { lse, dl0 });
    grads = merged ? { du: merged[0], dx: merged[1] } : { slots: s.slots };
  }
  // Every task has answered: no worker reads U, X or the slots any more (a stopped call drops them).
  // U and X are kept unless the backward task took them: a transfer detaches them, recycle skips those.
  if (grads) image.grad = yield* backwardStage(job, gather, grads, dl0);
  else host.copies.recycle(gather.spare);
  host.copies.recycle(gather.u, gather.x, ...(s.slots ?? []).map((slot) => slot.values));
  return image;
}

/** A part's slot (NceSlot): its dU rows, and dX for a part of the negatives; no floats for the query LSE's. */
function slotOf(job: InfoNCEJob, part: Part) {
  const [row0, row1] = nceDuRows(part.stage, roundUp8(job.queries.length), part.s0, part.s1);
  const dx = part.stage === 'strips' ? roundUp8(job.negatives.length) : 0;
  return { row0, rows: row1 - row0, floats: part.stage === 'queryLse' ? 0 : (row1 - row0 + dx) * roundUp8(job.c) };
}

/** The floats of an image's slots. */
const slotFloats = (job: InfoNCEJob) =>
  planParts(job)
    .flat()
    .reduce((n, part) => n + slotOf(job, part).floats, 0);

/**
 * Stage 1. U and X go into arrays kept from earlier calls, in shared memory where workers run it:
 * fresh ones would cost their first touch in the worker, and a copy into shared memory here.
 */
function* gatherStage(job: InfoNCEJob, host: PlanHost): Plan<NceGatherResult> {
  const { features, queries, negatives, c, hw, temperature, positive, memoryBytes } = job;
  const take = (rows: number) => host.copies.take(roundUp8(rows) * roundUp8(c), host.threads > 1);
  const into = host.threads < 2 || canShare ? { uInto: take(queries.length), xInto: take(negatives.length) } : {};
  const task: NceGatherTask = {
    kind: 'nceGather',
    features,
    queries,
    negatives,
    c,
    hw,
    temperature,
    positive,
    memoryBytes,
    ...into,
  };
  // The index lists are copied, not moved: the call's result reads them again.
  return yield* result(yield* start(task, moved(features)));
}

function passesOf(job: InfoNCEJob, gather: NceGatherResult, host: PlanHost, slots: NceSlot[] | undefined): Passes {
  const plan = planParts(job);
  // A part's slot, taken when the part starts: the slots are summed in that order.
  const into = (part: Part): Pick<NcePartTask, 'into'> => {
    const { row0, rows, floats } = slotOf(job, part);
    if (!slots || !floats) return {};
    const values = host.copies.take(floats, true);
    slots.push({ values, row0, rows });
    return { into: values };
  };
  const base = {
    kind: 'ncePart' as const,
    image: newImageRun(),
    u: gather.u,
    x: gather.x,
    j: job.queries.length,
    m: job.negatives.length,
    c: job.c,
    temperature: job.temperature,
    positive: job.positive,
    gradScale: job.gradScale,
    grad: job.grad,
    memoryBytes: job.memoryBytes,
  };
  return {
    job,
    gather,
    jp: roundUp8(job.queries.length),
    cp: roundUp8(job.c),
    host,
    slots,
    *start(stage, extra) {
      const parts = plan.find((pass) => pass[0].stage === stage) ?? [];
      return yield* startAll(
        parts.map((part): [NcePartTask, ArrayBuffer[]] => [
          { ...base, ...extra, stage, steps: part.steps, ...into(part) },
          [],
        ]),
      );
    },
  };
}

/**
 * mean-exp's ℓ0, from the query block's maxima and sums merged in part order (in float64:
 * m = max, sum = Σ sum_k·e^(m_k − m)): LSE = m + ln(sum), ℓ0 = LSE − ln(J − 1).
 */
function* queryLsePass(s: Passes) {
  const j = s.job.queries.length;
  const running = new RunningLse(s.jp);
  for (const ticket of yield* s.start('queryLse', {})) {
    const r = yield* result(ticket);
    running.merge(r.lseMax as Float32Array, r.lseSum as Float32Array, j);
    s.host.done(r);
  }
  const lse = new Float32Array(s.jp),
    l0 = new Float32Array(s.jp);
  const logJm1 = Math.fround(Math.log(j - 1));
  for (let a = 0; a < j; a++) {
    lse[a] = running.lse(a);
    l0[a] = lse[a] - logJm1;
  }
  return { l0, lse };
}

/**
 * The queries' losses and dl0, placed; the image's loss, its queries summed in order; and, for the
 * gradient, the parts' results.
 */
function* lossOf(s: Passes, negatives: Ticket<NcePartTask>[]) {
  const j = s.job.queries.length;
  const perQuery = new Float32Array(j),
    dl0 = new Float32Array(s.jp);
  const parts: NcePartResult[] = [];
  for (const ticket of negatives) {
    const r = yield* result(ticket);
    perQuery.set(r.perQuery as Float32Array, r.row0);
    dl0.set(r.dl0 as Float32Array, r.row0);
    if (s.job.grad && !s.slots) parts.push(r);
    else s.host.done(r);
  }
  let total = 0;
  for (let a = 0; a < j; a++) total += perQuery[a];
  const image: InfoNCEImage = { loss: total / j, perQuery };
  return { image, dl0, parts };
}

/**
 * dU from the negatives' parts (their own rows: placed); dX the first part's, then the others'
 * summed into it, in part order.
 */
function negativeGrads(s: Passes, parts: NcePartResult[]): [Float32Array, Float32Array] {
  const du = new Float32Array(s.jp * s.cp);
  let dx: Float32Array | undefined;
  for (const r of parts) {
    du.set(r.du as Float32Array, r.row0 * s.cp);
    if (dx) s.host.add(dx, r.dx as Float32Array, 0);
    else [dx, r.dx] = [s.host.keep(r.dx as Float32Array), undefined];
    s.host.done(r);
  }
  if (!dx) throw new Error('forgery-losses: internal error: an infoNCE image without a part');
  return [du, dx];
}

/** The query block's partial dU (mean-exp), summed in part order (here, or from the slots by the backward task). */
function* queryGradPass(s: Passes, grads: [Float32Array, Float32Array] | undefined, extra: Extra): Plan<void> {
  for (const ticket of yield* s.start('queryGrad', extra)) {
    const r = yield* result(ticket);
    if (grads) s.host.add(grads[0], r.du as Float32Array, r.row0 * s.cp);
    s.host.done(r);
  }
}

function* backwardStage(
  job: InfoNCEJob,
  g: NceGatherResult,
  grads: Pick<NceBackwardTask, 'du' | 'dx' | 'slots'>,
  dl0: Float32Array,
): Plan<Float32Array> {
  const { queries, negatives, c, hw, temperature, positive, memoryBytes } = job;
  const task: NceBackwardTask = {
    kind: 'nceBackward',
    ...{ out: g.spare, u: g.u, x: g.x, ...grads, normsU: g.normsU, normsX: g.normsX, sumU: g.sumU, dl0 },
    ...{ queries, negatives, c, hw, temperature, positive, memoryBytes },
  };
  const back = yield* result(yield* start(task, moved(g.spare, g.u, g.x, grads.du, grads.dx)));
  return back.grad;
}
