// A loss call from options to result, in two halves. `prepareCall` runs when the call is made: it
// validates every option and takes the inputs (copies, or for cross-entropy run now, the arrays
// themselves), so the caller may reuse its arrays at once (docs/design.md §8). `run` then does the
// work on whichever context the engine picks, with the call's signal and progress; `runSync` does
// the same work to completion, for the engine's sync methods.

import {
  CFL_OBJECTIVE_OPTIONS,
  cflObjectiveJobs,
  combineCflObjective,
  type PreparedCflObjective,
  prepareCflObjective,
} from './losses/cflObjective.js';
import {
  CROSS_ENTROPY_OPTIONS,
  crossEntropyWork,
  ownInputs,
  type ParsedCrossEntropy,
  parseCrossEntropy,
  runCrossEntropy,
  runCrossEntropySync,
} from './losses/crossEntropy.js';
import type { PrepareEnv } from './losses/env.js';
import { infoNCEJobs, prepareInfoNCE, reduceInfoNCE } from './losses/infoNCE.js';
import { parsePatchContrast, patchContrastJobs, reducePatchContrast } from './losses/patchContrast.js';
import type { LossContext } from './runtime/context.js';
import { CallControl } from './runtime/control.js';
import type { Executor } from './runtime/executors/executor.js';
import { type ImageJob, type ImageResultOf, jobWork } from './runtime/schedule/jobs.js';
import type { PatchContrastResult } from './types.js';
import { checkCallOptions, checkOptions } from './validate.js';
import { infoNCEWork, type LossName, patchWork, type Work } from './webgpu/select.js';

export { CFL_OBJECTIVE_OPTIONS };

/** A call whose inputs are taken: it only waits for a context to run on. */
export interface PreparedCall {
  loss: LossName;
  /** The call's estimated work, for the WebGPU route (null: it stays on wasm). */
  work: Work | null;
  signal?: AbortSignal;
  /** The same call on copies of the inputs that it still shares with the caller (if any). */
  own(): PreparedCall;
  run(ctx: LossContext): Promise<unknown>;
  /** The call to completion now (a sync method's: no signal, no progress). */
  runSync(ctx: LossContext): unknown;
}

/** Runs a call's work under its control: progress completed at the end, listeners removed. */
async function controlled<R>(
  signal: AbortSignal | undefined,
  onProgress: ((done: number, total: number) => void) | undefined,
  total: number,
  run: (control: CallControl) => Promise<R>,
): Promise<R> {
  const control = new CallControl(signal, onProgress, total);
  try {
    const result = await run(control);
    control.finish();
    return result;
  } catch (error) {
    // A job failed, or the call was stopped: none of its other jobs need run.
    control.stop(error);
    throw error;
  } finally {
    control.close();
  }
}

/** What a call over per-image jobs does besides running them. */
interface JobsCall<J extends ImageJob, A, R> {
  loss: LossName;
  work: Work | null;
  /** The call's jobs, their memory checked. */
  jobs(ctx: LossContext): J[];
  /** The result from the jobs' images. */
  reduce(ctx: LossContext, jobs: J[], images: ImageResultOf<J>[]): A;
  /** Work after the jobs (cflObjective's cross-entropy), async and sync. */
  tail?: {
    work: number;
    run(ctx: LossContext, a: A, control: CallControl): Promise<R>;
    runSync(ctx: LossContext, a: A): R;
  };
}

/** `ctx` with the executor a call's work picked (threads 'auto': the calling thread or the pool), if it picked one. */
function contextFor(ctx: LossContext, executor: Executor | undefined): LossContext {
  return !executor || executor === ctx.executor ? ctx : { ...ctx, executor };
}

function jobCall<J extends ImageJob, A, R = A>(o: Record<string, unknown>, spec: JobsCall<J, A, R>): PreparedCall {
  const { signal, onProgress } = checkCallOptions(o);
  const workOf = (jobs: J[]) => jobs.reduce((sum, job) => sum + jobWork(job), spec.tail?.work ?? 0);
  const call: PreparedCall = {
    loss: spec.loss,
    work: spec.work,
    signal,
    own: () => call,
    async run(ctx) {
      const jobs = spec.jobs(ctx);
      const total = workOf(jobs);
      const on = contextFor(ctx, await ctx.executor.forWork?.(total));
      return controlled(signal, onProgress, total, async (control) => {
        const a = spec.reduce(on, jobs, await on.executor.runJobs(jobs, control));
        return spec.tail ? spec.tail.run(on, a, control) : a;
      });
    },
    runSync(ctx) {
      const jobs = spec.jobs(ctx);
      const on = contextFor(ctx, ctx.executor.forWorkSync?.(workOf(jobs)));
      // Workers only where this thread may wait for them (executors/blocking.ts).
      const executor = on.executor.syncThreads > 1 && on.executor.runJobsSync ? on.executor : ctx.inline;
      const a = spec.reduce(on, jobs, executor.runJobsSync?.(jobs) ?? []);
      return spec.tail ? spec.tail.runSync(on, a) : a;
    },
  };
  return call;
}

function crossEntropyCall(o: Record<string, unknown>): PreparedCall {
  const { signal, onProgress } = checkCallOptions(o);
  const make = (p: ParsedCrossEntropy): PreparedCall => ({
    loss: 'crossEntropy',
    work: null,
    signal,
    own: () => make(ownInputs(p)),
    run: (ctx) => controlled(signal, onProgress, crossEntropyWork(p), (control) => runCrossEntropy(ctx, p, control)),
    runSync: (ctx) => runCrossEntropySync(ctx, p),
  });
  return make(parseCrossEntropy(o));
}

function cflObjectiveCall(options: unknown, env: PrepareEnv): PreparedCall {
  const p: PreparedCflObjective = prepareCflObjective(options, env);
  return jobCall(options as Record<string, unknown>, {
    loss: 'cflObjective',
    work: patchWork(p.contrast, 'cflnet'),
    jobs: (ctx) => cflObjectiveJobs(ctx, p),
    reduce: (ctx, _, images) => reducePatchContrast(ctx, p.contrast, images),
    tail: {
      work: crossEntropyWork(p.ce),
      run: async (ctx, contrast: PatchContrastResult, control) =>
        combineCflObjective(ctx, p, contrast, await runCrossEntropy(ctx, p.ce, control)),
      runSync: (ctx, contrast) => combineCflObjective(ctx, p, contrast, runCrossEntropySync(ctx, p.ce)),
    },
  });
}

/** A call, validated and its inputs taken (`env`: the engine's finite check, copies and sharing). */
export function prepareCall(loss: LossName, options: unknown, env: PrepareEnv): PreparedCall {
  switch (loss) {
    case 'crossEntropy':
      return crossEntropyCall(checkOptions(options, 'crossEntropy', CROSS_ENTROPY_OPTIONS));
    case 'patchContrast': {
      const p = parsePatchContrast(options, env);
      return jobCall(options as Record<string, unknown>, {
        loss,
        work: patchWork(p, p.variant),
        jobs: (ctx) => patchContrastJobs(ctx, p),
        reduce: (ctx, _, images) => reducePatchContrast(ctx, p, images),
      });
    }
    case 'infoNCE': {
      const p = prepareInfoNCE(options, env);
      const counts = p.dictionaries.map((d): [number, number] => [d.queries.length, d.negatives.length]);
      return jobCall(options as Record<string, unknown>, {
        loss,
        work: infoNCEWork(counts, p.c, p.b * p.c * p.hw * 4, p.grad, p.positive === 'mean-exp'),
        jobs: (ctx) => infoNCEJobs(ctx, p),
        reduce: (ctx, jobs, images) => reduceInfoNCE(ctx, p, jobs, images),
      });
    }
    case 'cflObjective':
      return cflObjectiveCall(options, env);
  }
}
