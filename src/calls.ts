// A loss call from options to result, in two halves. `prepareCall` runs when the call is made:
// it validates every option and takes the inputs (copies, or for cross-entropy run now, the
// arrays themselves), so the caller may reuse its arrays at once (docs/design.md §8). `run` then
// does the work on whichever context the engine picks, with the call's signal and progress.

import {
  type CflObjectiveJobs,
  cflObjectiveJobs,
  prepareCflObjective,
  runCflObjective,
} from './losses/cflObjective.js';
import {
  CROSS_ENTROPY_OPTIONS,
  crossEntropyWork,
  ownInputs,
  parseCrossEntropy,
  runCrossEntropy,
} from './losses/crossEntropy.js';
import { infoNCEJobs, prepareInfoNCE, runInfoNCE } from './losses/infoNCE.js';
import { parsePatchContrast, patchContrastJobs, runPatchContrast } from './losses/patchContrast.js';
import type { LossContext } from './runtime/context.js';
import { CallControl } from './runtime/control.js';
import { type ImageJob, jobWork } from './runtime/jobs.js';
import { checkCallOptions, checkOptions, type FiniteCheck } from './validate.js';
import { infoNCEWork, type LossName, patchWork, type Work } from './webgpu/select.js';

/** A call whose inputs are taken: it only waits for a context to run on. */
export interface PreparedCall {
  loss: LossName;
  /** The call's estimated work, for the WebGPU route (null: it stays on wasm). */
  work: Work | null;
  signal?: AbortSignal;
  /** The same call on copies of the inputs that it still shares with the caller (if any). */
  own(): PreparedCall;
  run(ctx: LossContext): Promise<unknown>;
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

/** Runs jobs-based work: the jobs (memory checked), a control over their total work, the result. */
function jobCall<J extends ImageJob[], R>(
  o: Record<string, unknown>,
  loss: LossName,
  work: Work | null,
  extraWork: number,
  jobs: (ctx: LossContext) => J,
  run: (ctx: LossContext, jobs: J, control: CallControl) => Promise<R>,
): PreparedCall {
  const { signal, onProgress } = checkCallOptions(o);
  const call: PreparedCall = {
    loss,
    work,
    signal,
    own: () => call,
    async run(ctx) {
      const made = jobs(ctx);
      const total = made.reduce((sum, job) => sum + jobWork(job), extraWork);
      // threads 'auto' picks the calling thread or the pool by the call's size (runtime/lazy-pool.ts).
      const executor = (await ctx.executor.forWork?.(total)) ?? ctx.executor;
      const on = executor === ctx.executor ? ctx : { ...ctx, executor };
      return controlled(signal, onProgress, total, (control) => run(on, made, control));
    },
  };
  return call;
}

/**
 * `finite` checks the float inputs that the kernels do not check as they go (all but crossEntropy's);
 * `splitThreads`: the worker threads over which patchContrast's images may be split (bands.ts).
 */
export function prepareCall(loss: LossName, options: unknown, finite: FiniteCheck, splitThreads = 1): PreparedCall {
  switch (loss) {
    case 'crossEntropy': {
      const o = checkOptions(options, 'crossEntropy', CROSS_ENTROPY_OPTIONS);
      const p = parseCrossEntropy(o);
      const { signal, onProgress } = checkCallOptions(o);
      const make = (q: typeof p): PreparedCall => ({
        loss,
        work: null,
        signal,
        own: () => make(ownInputs(q)),
        run: (ctx) =>
          controlled(signal, onProgress, crossEntropyWork(q), (control) => runCrossEntropy(ctx, q, control)),
      });
      return make(p);
    }
    case 'patchContrast': {
      const p = parsePatchContrast(options, finite, splitThreads);
      const o = options as Record<string, unknown>;
      return jobCall(
        o,
        loss,
        patchWork(p, p.variant),
        0,
        (ctx) => patchContrastJobs(ctx, p),
        (ctx, jobs, control) => runPatchContrast(ctx, p, jobs, control),
      );
    }
    case 'infoNCE': {
      const p = prepareInfoNCE(options, finite);
      const counts = p.dictionaries.map((d): [number, number] => [d.queries.length, d.negatives.length]);
      const work = infoNCEWork(counts, p.c, p.b * p.c * p.hw * 4, p.grad, p.positive === 'mean-exp');
      return jobCall(
        options as Record<string, unknown>,
        loss,
        work,
        0,
        (ctx) => infoNCEJobs(ctx, p),
        (ctx, jobs, control) => runInfoNCE(ctx, p, jobs, control),
      );
    }
    case 'cflObjective': {
      const p = prepareCflObjective(options, finite, splitThreads);
      return jobCall(
        options as Record<string, unknown>,
        loss,
        patchWork(p.contrast, 'cflnet'),
        crossEntropyWork(p.ce),
        (ctx): CflObjectiveJobs => cflObjectiveJobs(ctx, p),
        (ctx, jobs, control) => runCflObjective(ctx, p, jobs, control),
      );
    }
  }
}
