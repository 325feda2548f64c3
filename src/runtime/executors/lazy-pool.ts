// The executor of `threads: 'auto'` (and so of the top-level functions' default engine): the
// calling thread until a call's work pays for workers, then a worker pool, started once and kept.
// Import plus a small call therefore never starts a worker (a serverless cold start stays cheap),
// and a call large enough to gain from the cores gets them. Both run the same plans, so which one
// a call runs on never changes a bit (docs/design.md §5). A sync call cannot wait for workers to
// start: until they run it stays in the calling thread (`workers: 'eager'` starts them at once).

import type { CallControl } from '../control.js';
import type { ImageJob, ImageResultOf } from '../schedule/jobs.js';
import { cannotBlock } from './blocking.js';
import type { Executor } from './executor.js';
import type { InlineExecutor } from './inline.js';
import type { WorkerPool } from './pool.js';

/**
 * Work (schedule/jobs.ts units) from which a call starts the pool: about as long on one thread as
 * two workers take to start (bench/RESULTS.md). The first such call may not win back the start;
 * the next ones do.
 */
export const START_WORK = 2 ** 29;
/** Work from which a call runs on a started pool: below it, the messages cost about what the cores save. */
export const POOL_WORK = 2 ** 24;

export class LazyPoolExecutor implements Executor {
  #pool: Promise<WorkerPool | null> | undefined;
  #started: WorkerPool | null = null;

  readonly #inline: InlineExecutor;
  readonly #start: () => Promise<WorkerPool>;
  readonly #notes: string[];

  /** `start` makes the pool; `notes` receives why, if it cannot (the engine's info.notes). */
  constructor(
    inline: InlineExecutor,
    start: () => Promise<WorkerPool>,
    readonly threads: number,
    notes: string[],
  ) {
    this.#inline = inline;
    this.#start = start;
    this.#notes = notes;
  }

  /** What a sync call will use once the workers run. */
  get syncThreads(): number {
    return this.#started?.syncThreads ?? (cannotBlock ? 1 : this.threads);
  }

  /** Starts the workers now (if they are not running); resolves once they are, or could not start. */
  async startWorkers(): Promise<void> {
    this.#pool ??= this.#start().then(
      (pool) => (this.#started = pool),
      (error) => {
        this.#notes.push(
          `threads: 'auto' chose ${this.threads}, but workers could not start (${(error as Error).message}); ` +
            'jobs run in the calling thread',
        );
        return null;
      },
    );
    await this.#pool;
  }

  /** The executor for a call of `work` units, starting the pool when the work pays for it. */
  async forWork(work: number): Promise<Executor> {
    if (!this.#started && work >= START_WORK) await this.startWorkers();
    return this.forWorkSync(work);
  }

  /** The same for a sync call, which cannot wait: workers that pay start for the calls after it. */
  forWorkSync(work: number): Executor {
    if (this.#started) return work >= POOL_WORK ? this.#started : this.#inline;
    if (work >= START_WORK) void this.startWorkers();
    return this.#inline;
  }

  runJobs<J extends ImageJob>(jobs: J[], control: CallControl): Promise<ImageResultOf<J>[]> {
    return this.#inline.runJobs(jobs, control);
  }

  runJobsSync<J extends ImageJob>(jobs: J[]): ImageResultOf<J>[] {
    return this.#inline.runJobsSync(jobs);
  }

  memoryBytes(): number {
    return this.#started?.memoryBytes() ?? 0;
  }

  async dispose(): Promise<void> {
    const pool = this.#started ?? (await this.#pool);
    await pool?.dispose();
  }
}
