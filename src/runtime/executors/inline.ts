// The calling thread as an executor: tasks run on the engine's own wasm instance, one at a time
// (an async task keeps its buffers in the arena between its steps: the lock), with the event loop
// given back every SLICE_MS; a sync call runs its tasks to completion — on a second instance when
// an async call holds the first, so that neither disturbs the other (docs/design.md §5).

import { type CallControl, Slicer } from '../control.js';
import type { CopyCache } from '../copies.js';
import { driveAsync, driveSync, type SyncRunner } from '../schedule/drive.js';
import { imagePlan } from '../schedule/images.js';
import type { ImageJob, ImageResultOf } from '../schedule/jobs.js';
import type { AddF32, PlanHost } from '../schedule/plan.js';
import type { WasmInstance } from '../wasm/instance.js';
import { ArenaLock } from '../wasm/lock.js';
import { type ResultOf, resultTransfer, type Task, type TaskResult } from '../wasm/protocol.js';
import { runTask, taskSteps } from '../wasm/run-task.js';
import { addF32 } from '../wasm/sums.js';
import type { Executor } from './executor.js';

export class InlineExecutor implements Executor {
  readonly threads = 1;
  readonly syncThreads = 1;
  readonly #lock = new ArenaLock();
  /**
   * One slicer for every task: tasks follow each other without a turn of the event loop between
   * them, so the time since the last turn must carry over from one to the next.
   */
  readonly #slicer = new Slicer();

  readonly #spare: WasmInstance;
  readonly #copies: CopyCache;

  /** `main`: the engine's instance; `spare`: a sync call's while an async one holds `main`. */
  constructor(
    readonly main: WasmInstance,
    spare: WasmInstance,
    copies: CopyCache,
  ) {
    this.#spare = spare;
    this.#copies = copies;
  }

  /** The parts' float32 sums, on this thread's instance. */
  readonly add: AddF32 = (acc, part, offset) => addF32(this.main.arena, acc, part, offset);

  /** True while an async task holds the engine's instance. */
  get busy(): boolean {
    return this.#lock.busy;
  }

  #host(control: CallControl | null): PlanHost {
    return {
      threads: 1,
      add: this.add,
      advance: (units) => control?.advance(units),
      copies: this.#copies,
      // Merged results' buffers serve this instance's later ones.
      done: (result: TaskResult) => this.main.parts.donate(resultTransfer(result)),
      keep: (array) => array,
    };
  }

  runJobs<J extends ImageJob>(jobs: J[], control: CallControl): Promise<ImageResultOf<J>[]> {
    const host = this.#host(control);
    const runner = { run: <T extends Task>(task: T) => this.run(task, control) };
    return Promise.all(jobs.map((job) => driveAsync(imagePlan(job, host), runner, control)));
  }

  runJobsSync<J extends ImageJob>(jobs: J[]): ImageResultOf<J>[] {
    const host = this.#host(null);
    return driveSync(
      jobs.map((job) => imagePlan(job, host)),
      this.#syncRunner(),
    );
  }

  /** Runs a task when the instance is free (at once, in this turn, when it is), stepping with the event loop. */
  run<T extends Task>(task: T, control: CallControl): Promise<ResultOf<T>> {
    return new Promise((resolve, reject) => {
      control.onStop(reject);
      this.#lock.run(() => this.#steps(task, control)).then(resolve, reject);
    });
  }

  /** Runs a task to its end now, on the engine's instance, or the spare one while an async task holds it. */
  runSync<T extends Task>(task: T): ResultOf<T> {
    return runTask(this.#lock.busy ? this.#spare : this.main, task);
  }

  /**
   * A task's steps, reporting each step's work, yielding every SLICE_MS and stopping (its wasm
   * memory freed) as soon as the call stops. The first step runs at once: a task started by a
   * call that found the instance free reads its inputs before the call returns.
   */
  async #steps<T extends Task>(task: T, control: CallControl): Promise<ResultOf<T>> {
    control.throwIfStopped();
    const steps = taskSteps(this.main, task);
    let work = 0;
    try {
      for (;;) {
        const next = steps.next();
        if (next.done) {
          control.advance(work);
          return next.value;
        }
        work += next.value;
        if (!this.#slicer.due()) continue;
        // Progress and the event loop's turn, every SLICE_MS of work.
        control.advance(work);
        work = 0;
        await this.#slicer.yield();
        control.throwIfStopped();
      }
    } finally {
      steps.return(undefined as never);
    }
  }

  /** Runs each task as it is posted: the calling thread never waits for another. */
  #syncRunner(): SyncRunner {
    const outcomes = new Map<number, { result?: TaskResult; error?: unknown }>();
    let next = 0;
    return {
      post: (task) => {
        const handle = ++next;
        try {
          outcomes.set(handle, { result: this.runSync(task) });
        } catch (error) {
          outcomes.set(handle, { error });
        }
        return handle;
      },
      ready: () => true,
      take: (handle) => {
        const outcome = outcomes.get(handle);
        outcomes.delete(handle);
        if (!outcome || 'error' in outcome) throw outcome?.error;
        return outcome.result as TaskResult;
      },
      waitAny: () => {},
      drain: () => {},
    };
  }

  /** Wasm memory of this thread's instances. */
  memoryBytes(): number {
    return this.main.arena.memoryBytes() + this.#spare.arena.memoryBytes();
  }

  async dispose(): Promise<void> {}
}
