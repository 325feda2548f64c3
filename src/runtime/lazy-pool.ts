// The executor of `threads: 'auto'` (and so of the top-level functions' default engine): the
// calling thread until a call's work pays for workers, then a worker pool, started once and kept.
// Import plus a small call therefore never starts a worker (a serverless cold start stays cheap),
// and a call large enough to gain from the cores gets them. Both run the same tasks, so which one
// a call runs on never changes a bit (docs/design.md §5).

import type { CallControl } from './control.js';
import type { Executor, InlineExecutor } from './executor.js';
import type { ImageJob, ImageResult } from './jobs.js';
import type { WorkerPool } from './pool.js';

/**
 * Work (jobs.ts units, about 6–7 M a millisecond on one core here) from which a call starts the
 * pool: about 80 ms on one thread, against the ~70 ms two workers take to start (Node 20, this
 * machine; docs/benchmarks.md). The first such call may not win back the start; the next ones do.
 */
export const START_WORK = 2 ** 29;
/** Work from which a call runs on a started pool: below it, the messages cost about what the cores save. */
export const POOL_WORK = 2 ** 24;

export class LazyPoolExecutor implements Executor {
  private pool: Promise<WorkerPool | null> | undefined;
  private started: WorkerPool | null = null;

  /** `start` makes the pool; `notes` receives why, if it cannot (the engine's info.notes). */
  constructor(
    private readonly inline: InlineExecutor,
    private readonly start: () => Promise<WorkerPool>,
    readonly threads: number,
    private readonly notes: string[],
  ) {}

  /** True once the workers run. */
  get poolStarted(): boolean {
    return this.started !== null;
  }

  /** The executor for a call of `work` units, starting the pool when the work pays for it. */
  async forWork(work: number): Promise<Executor> {
    if (this.started) return work >= POOL_WORK ? this.started : this.inline;
    if (work < START_WORK) return this.inline;
    this.pool ??= this.start().then(
      (pool) => (this.started = pool),
      (error) => {
        this.notes.push(
          `threads: 'auto' chose ${this.threads}, but workers could not start (${(error as Error).message}); ` +
            'jobs run in the calling thread',
        );
        return null;
      },
    );
    return (await this.pool) ?? this.inline;
  }

  run(job: ImageJob, control: CallControl): Promise<ImageResult> {
    return this.inline.run(job, control);
  }

  memoryBytes(): number {
    return this.started?.memoryBytes() ?? 0;
  }

  async dispose(): Promise<void> {
    const pool = this.started ?? (await this.pool);
    await pool?.dispose();
  }
}
