// The worker pool: the tasks of a call's image plans spread over worker threads (docs/design.md
// §5, §9). A worker runs one task at a time; the calling thread queues the rest and hands each to
// the next idle worker, so one image uses every worker during its passes. Inputs move as
// transferred copies where the caller is done with them, or as shared copies that several workers
// read; results move back. Async calls get answers by message; sync calls (pool-sync.ts) in shared
// memory while the calling thread waits.
// Stopping: a call that stops (an abort) rejects at once; its queued tasks are dropped and a
// worker running one is told to drop it, which it does at its next step, freeing its memory; the
// worker takes no new task until it has answered. Workers post each step's work for onProgress.
// Failure: a worker that dies mid-task rejects that task (so its call) with an Error, is replaced,
// and the pool goes on.

import type { CallControl } from '../control.js';
import type { CopyCache } from '../copies.js';
import { driveAsync, driveSync } from '../schedule/drive.js';
import { imagePlan } from '../schedule/images.js';
import type { ImageJob, ImageResultOf } from '../schedule/jobs.js';
import type { PlanHost } from '../schedule/plan.js';
import { worthKeeping } from '../wasm/part-buffers.js';
import { type ResultOf, resultTransfer, type Task, type TaskResult } from '../wasm/protocol.js';
import type { Executor } from './executor.js';
import type { InlineExecutor } from './inline.js';
import { cannotBlock } from './blocking.js';
import { PoolSync } from './pool-sync.js';
import { rebuildError } from './reply.js';
import type { Spawner } from './spawn.js';
import { type Assignment, type WorkerReply, WorkerSlots } from './workers.js';

/** Merged results' buffers held for the workers, and how many go with one task. */
const MAX_SPARES = 32;
const SPARES_PER_TASK = 8;

/** An async call's task, queued or running. */
class Pending implements Assignment {
  /** Set once the call has stopped: the answer is then only awaited to free the worker. */
  settled = false;

  readonly #resolve: (result: TaskResult) => void;
  readonly #reject: (error: unknown) => void;

  constructor(
    readonly task: Task,
    readonly transfer: ArrayBuffer[],
    readonly control: CallControl,
    resolve: (result: TaskResult) => void,
    reject: (error: unknown) => void,
  ) {
    this.#resolve = resolve;
    this.#reject = reject;
  }

  message(reply: WorkerReply): boolean {
    if (reply.type === 'progress') {
      if (!this.settled) this.control.advance(reply.work);
      return false;
    }
    if (!this.settled) {
      this.settled = true;
      if (reply.type === 'result') this.#resolve(reply.result);
      else if (reply.type === 'error') this.#reject(rebuildError(reply.name, reply.message));
    }
    return true;
  }

  died(error: Error): void {
    this.fail(error);
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.#reject(error);
  }
}

export class WorkerPool implements Executor {
  readonly #queue: Pending[] = [];
  /** Buffers of merged part results, handed back to the workers with their next tasks. */
  readonly #spares: ArrayBuffer[] = [];
  /** Set while a sync call holds the workers: queued async tasks wait for its end. */
  #syncing = false;
  #slots!: WorkerSlots;
  /** A sync call's runner, made by the first (it needs shared memory, which a runtime may not have). */
  #syncRunner: PoolSync | undefined;
  #disposed = false;

  readonly #inline: InlineExecutor;
  readonly #copies: CopyCache;
  readonly #stallMs: number;

  private constructor(
    readonly threads: number,
    inline: InlineExecutor,
    copies: CopyCache,
    stallMs: number,
  ) {
    this.#inline = inline;
    this.#copies = copies;
    this.#stallMs = stallMs;
  }

  get #sync(): PoolSync {
    this.#syncRunner ??= new PoolSync(this.#slots, (task) => this.#inline.runSync(task), this.#stallMs);
    return this.#syncRunner;
  }

  /** A pool of `threads` ready workers; rejects when a worker cannot start or answer. */
  static async create(
    module: WebAssembly.Module,
    spawn: Spawner,
    threads: number,
    inline: InlineExecutor,
    copies: CopyCache,
    stallMs: number,
  ): Promise<WorkerPool> {
    const pool = new WorkerPool(threads, inline, copies, stallMs);
    pool.#slots = await WorkerSlots.start(module, spawn, threads, () => pool.#pump());
    return pool;
  }

  /** Threads a sync call uses: the workers where this thread may wait for them (blocking.ts). */
  get syncThreads(): number {
    return cannotBlock ? 1 : this.threads;
  }

  #host(control: CallControl | null): PlanHost {
    return {
      threads: this.threads,
      add: this.#inline.add,
      advance: (units) => control?.advance(units),
      copies: this.#copies,
      done: control ? (result) => this.#donate(result) : (result) => this.#syncRunner?.release(result),
      // A sync call's part results lie in reply boxes that `done` hands back.
      keep: control ? (array) => array : (array) => array.slice(),
    };
  }

  /** Small buffers are not kept: they would only take the places of large ones. */
  #donate(result: TaskResult): void {
    this.#spares.push(...resultTransfer(result).filter(worthKeeping));
    if (this.#spares.length > MAX_SPARES) this.#spares.splice(0, this.#spares.length - MAX_SPARES);
  }

  runJobs<J extends ImageJob>(jobs: J[], control: CallControl): Promise<ImageResultOf<J>[]> {
    const host = this.#host(control);
    const runner = { run: <T extends Task>(task: T, transfer: ArrayBuffer[]) => this.#run(task, transfer, control) };
    return Promise.all(jobs.map((job) => driveAsync(imagePlan(job, host), runner, control)));
  }

  runJobsSync<J extends ImageJob>(jobs: J[]): ImageResultOf<J>[] {
    if (this.#disposed) throw new Error('forgery-losses: this engine has been disposed');
    this.#syncing = true;
    try {
      const host = this.#host(null);
      return driveSync(
        jobs.map((job) => imagePlan(job, host)),
        this.#sync,
      );
    } finally {
      this.#syncing = false;
      this.#pump();
    }
  }

  #run<T extends Task>(task: T, transfer: ArrayBuffer[], control: CallControl): Promise<ResultOf<T>> {
    if (this.#disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    const answer = new Promise<TaskResult>((resolve, reject) => {
      const pending = new Pending(task, transfer, control, resolve, reject);
      this.#queue.push(pending);
      control.onStop((reason) => this.#stop(pending, reason));
      this.#pump();
    });
    // The worker answers a task with its own kind's result (wasm/run-task.ts).
    return answer as Promise<ResultOf<T>>;
  }

  /** The call of `pending` stopped: it rejects now; a worker running it is told to drop it. */
  #stop(pending: Pending, reason: unknown): void {
    if (pending.settled) return;
    pending.fail(reason);
    const queued = this.#queue.indexOf(pending);
    if (queued >= 0) this.#queue.splice(queued, 1);
    // The worker stays busy until it answers, so its next task never meets a stale 'abort'.
    else this.#slots.abort(pending);
  }

  /** Hands queued tasks to idle workers, in queue order. */
  #pump(): void {
    if (this.#syncing || this.#disposed) return;
    if (!this.#slots.alive) {
      const error = new Error('forgery-losses: no worker is left and none can be started');
      for (const pending of this.#queue.splice(0)) pending.fail(error);
      return;
    }
    while (this.#queue.length > 0) {
      const slot = this.#slots.idleFor(this.#queue[0].task);
      if (!slot) return;
      const pending = this.#queue.shift() as Pending;
      // With it, a few buffers of merged results, where the worker copies its next results.
      const spares = this.#spares.splice(0, SPARES_PER_TASK);
      this.#slots.assign(slot, pending, { spares }, [...pending.transfer, ...spares]);
    }
  }

  /** Wasm memory of all workers, as last reported. */
  memoryBytes(): number {
    return this.#slots.memoryBytes();
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#slots.dispose();
    this.#syncRunner?.dispose();
    for (const pending of this.#queue.splice(0))
      pending.fail(new Error('forgery-losses: this engine has been disposed'));
  }
}
