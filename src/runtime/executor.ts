// Where per-image jobs run. Both wasm executors run a job as the same tasks (image.ts), so they
// give the same bits: the inline executor runs the tasks in the calling thread on the engine's own
// wasm instance, one step at a time with the event loop given back between steps; the worker pool
// (pool.ts) spreads them over workers. Jobs are made when the call is made, so they hold the
// call's own copies of its inputs (docs/design.md §8).

import { type CallControl, Slicer } from './control.js';
import { type Merger, runImage } from './image.js';
import type { CrossEntropySums, ImageJob, ImageResult, ParsedCrossEntropy } from './jobs.js';
import type { Kernels } from './kernels.js';
import { resultTransfer, type Task, type TaskResult, taskSteps } from './tasks.js';
import type { Workspace } from './workspace.js';

export interface Executor {
  /** Threads that run jobs (1 for the calling thread). */
  readonly threads: number;
  /** Runs one job of a call; rejects with the call's reason once `control` stops. */
  run(job: ImageJob, control: CallControl): Promise<ImageResult>;
  /**
   * The sums of a whole cross-entropy call, where the executor has its own path for it (WebGPU); the
   * targets are checked, and the result reduced, by src/losses/crossEntropy.ts.
   */
  crossEntropy?(p: ParsedCrossEntropy, gradScale: number): Promise<CrossEntropySums>;
  /** Where a call of `work` units (jobs.ts jobWork) runs, when that depends on its size (lazy-pool.ts). */
  forWork?(work: number): Promise<Executor>;
  dispose(): Promise<void>;
}

export class InlineExecutor implements Executor {
  readonly threads = 1;

  constructor(
    private readonly kernels: Kernels,
    private readonly workspace: Workspace,
  ) {}

  /** Merges in this thread's wasm; merged results' buffers serve this instance's later ones. */
  private readonly merger: Merger = {
    add: (acc, part, offset) => this.workspace.addF32(acc, part, offset),
    done: (result) => this.workspace.donate(resultTransfer(result)),
  };

  run(job: ImageJob, control: CallControl): Promise<ImageResult> {
    return runImage(job, control, (task) => this.runTask(task, control), this.merger);
  }

  /**
   * One slicer for every task: tasks follow each other without a turn of the event loop between
   * them, so the time since the last turn must carry over from one to the next.
   */
  private readonly slicer = new Slicer();

  private runTask(task: Task, control: CallControl): Promise<TaskResult> {
    return new Promise((resolve, reject) => {
      control.onStop(reject);
      this.workspace
        .exclusive(() => runSteps(this.kernels, this.workspace, task, control, this.slicer))
        .then(resolve, reject);
    });
  }

  async dispose(): Promise<void> {}
}

/**
 * Runs a task's steps in this thread, reporting each step's work, yielding every SLICE_MS and
 * stopping (its wasm memory freed) as soon as the call stops. The worker (src/worker.ts) runs the
 * same steps its own way.
 */
async function runSteps(
  k: Kernels,
  ws: Workspace,
  task: Task,
  control: CallControl,
  slicer: Slicer,
): Promise<TaskResult> {
  await slicer.maybeYield();
  control.throwIfStopped();
  const steps = taskSteps(k, ws, task);
  let work = 0;
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) {
        control.advance(work);
        return next.value;
      }
      work += next.value;
      if (!slicer.due()) continue;
      // Progress and the event loop's turn, every SLICE_MS of work.
      control.advance(work);
      work = 0;
      await slicer.yield();
      control.throwIfStopped();
    }
  } finally {
    steps.return(undefined as never);
  }
}
