// Worker pool: the tasks of per-image jobs spread over worker threads.
//
// Model: the compiled WebAssembly.Module is posted once to each worker, which instantiates it
// with its own memory (no shared wasm memory, so no allocator races). A job (one image) runs as
// tasks (image.ts: stage 1, the parts of each similarity pass, the backward pass); a worker runs
// one task at a time, and the calling thread queues the rest and hands each to the next idle
// worker, so one image uses every worker during its passes. Inputs move as transferred copies
// where the caller is done with them, or as shared copies that several workers read (bands.ts);
// results always move.
// Partial results are merged by image.ts in part order and images reduced by the callers in image
// order, so nothing depends on the thread count or on which worker finished first.
// Thresholds: cross-entropy never leaves the calling thread (a batch costs about as much as its
// transfer); the contrastive losses always use the pool when it has more than one worker.
// Stopping: a call that stops (an abort) rejects at once; its queued tasks are dropped and a
// worker running one is told to drop it, which it does at its next step, freeing its memory; the
// worker takes no new task until it has answered. Workers post each step's work for onProgress.
// Failure: a worker that dies mid-task rejects that task (so its call) with an Error, is replaced,
// and the pool goes on. Workers are unref'd while idle (Node), so an idle pool never keeps a
// process alive.
// Runtimes: Node (node:worker_threads; Node 20 has no global Worker), and module Web Workers in
// browsers, Deno and Bun; each entry says how to start them (spawn.ts).

import type { CallControl } from './control.js';
import type { Executor } from './executor.js';
import { type AddF32, type Merger, runImage } from './image.js';
import type { ImageJob, ImageResult } from './jobs.js';
import type { Spawner, WorkerPort } from './spawn.js';
import { worthKeeping } from './workspace.js';
import { type PartTask, resultTransfer, type Task, type TaskResult, withoutOperands } from './tasks.js';

const READY_TIMEOUT_MS = 15_000;
/** Merged results' buffers held for the workers, and how many go with one task. */
const MAX_SPARES = 32;
const SPARES_PER_TASK = 8;

type Port = WorkerPort;

/** What a worker answers (src/worker.ts); every answer but 'progress' ends its task. */
type WorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; work: number }
  | { type: 'result'; result: TaskResult; memoryBytes: number }
  | { type: 'aborted'; memoryBytes: number }
  | { type: 'error'; name: string; message: string; memoryBytes: number };

interface Pending {
  task: Task;
  /** Buffers the task's message moves rather than copies. */
  transfer: ArrayBuffer[];
  control: CallControl;
  /** Set once the call has stopped: the answer is then only awaited to free the worker. */
  settled: boolean;
  resolve(result: TaskResult): void;
  reject(error: unknown): void;
}

/** What a slot whose worker is starting is busy with. */
const STARTING: Pending = {
  task: undefined as never,
  transfer: [],
  control: undefined as never,
  settled: true,
  resolve() {},
  reject() {},
};

interface Slot {
  port: Port;
  busy?: Pending;
  /** The image whose similarity operands the worker holds pinned (tasks.ts), as its tasks imply. */
  pinned?: number;
  /** The worker's wasm memory, as its last answer reported. */
  memoryBytes: number;
}

export class WorkerPool implements Executor {
  private readonly slots: Slot[] = [];
  /** Buffers of merged part results, handed back to the workers with their next tasks. */
  private readonly spares: ArrayBuffer[] = [];
  private readonly merger: Merger = {
    add: (acc, part, offset) => this.add(acc, part, offset),
    done: (result) => {
      // Small ones are not kept by the workers: they would only take the places of large ones.
      this.spares.push(...resultTransfer(result).filter(worthKeeping));
      if (this.spares.length > MAX_SPARES) this.spares.splice(0, this.spares.length - MAX_SPARES);
    },
  };
  private readonly queue: Pending[] = [];
  private disposed = false;

  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly spawn: Spawner,
    readonly threads: number,
    private readonly add: AddF32,
  ) {}

  /**
   * A pool of `threads` ready workers; rejects when a worker cannot start or answer. `add` merges
   * the parts' partial sums in this thread (the calling thread's Workspace.addF32).
   */
  static async create(module: WebAssembly.Module, spawn: Spawner, threads: number, add: AddF32): Promise<WorkerPool> {
    const pool = new WorkerPool(module, spawn, threads, add);
    // Started together: each worker compiles nothing (it gets the module), but starting one costs
    // tens of milliseconds, and they need not wait for each other.
    const starting = Array.from({ length: threads }, () => pool.start());
    try {
      pool.slots.push(...(await Promise.all(starting)));
    } catch (error) {
      for (const slot of await Promise.allSettled(starting))
        if (slot.status === 'fulfilled' && !pool.slots.includes(slot.value)) slot.value.port.terminate();
      await pool.dispose();
      throw error;
    }
    return pool;
  }

  /** Starts one worker and waits for its instance to be ready. */
  private start(): Promise<Slot> {
    return new Promise((resolve, reject) => {
      let slot: Slot | undefined;
      let ready = false;
      const timer = setTimeout(() => fail('no answer'), READY_TIMEOUT_MS);
      const fail = (reason: string) => {
        clearTimeout(timer);
        slot?.port.terminate();
        reject(new Error(`forgery-losses: a worker could not start (${reason})`));
      };
      this.spawn({
        message: (reply) => {
          const data = reply as WorkerReply;
          if (!ready && data.type === 'ready') {
            ready = true;
            clearTimeout(timer);
            slot?.port.hold(false);
            if (slot) resolve(slot);
          } else if (slot) this.finish(slot, data);
        },
        died: (reason) => (ready && slot ? this.died(slot, reason) : fail(reason)),
      }).then(
        (port) => {
          slot = { port, memoryBytes: 0 };
          port.post({ type: 'init', module: this.module });
        },
        (error) => fail(String(error?.message ?? error)),
      );
    });
  }

  run(job: ImageJob, control: CallControl): Promise<ImageResult> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    return runImage(job, control, (task, transfer) => this.runTask(task, transfer, control), this.merger, this.threads);
  }

  private runTask(task: Task, transfer: ArrayBuffer[], control: CallControl): Promise<TaskResult> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    return new Promise((resolve, reject) => {
      const pending: Pending = { task, transfer, control, settled: false, resolve, reject };
      this.queue.push(pending);
      control.onStop((reason) => this.stop(pending, reason));
      this.pump();
    });
  }

  /** The call of `pending` stopped: it rejects now; a worker running it is told to drop it. */
  private stop(pending: Pending, reason: unknown): void {
    if (pending.settled) return;
    pending.settled = true;
    pending.reject(reason);
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.busy === pending);
    // The worker stays busy until it answers, so its next job never meets a stale 'abort'.
    slot?.port.post({ type: 'abort' });
  }

  /** Wasm memory of all workers, as last reported. */
  memoryBytes(): number {
    return this.slots.reduce((sum, slot) => sum + slot.memoryBytes, 0);
  }

  /** Hands queued tasks to idle workers, in queue order; a part goes first to a worker holding its operands. */
  private pump(): void {
    for (;;) {
      const idle = this.slots.filter((slot) => !slot.busy);
      if (idle.length === 0 || this.queue.length === 0) return;
      const pending = this.queue.shift() as Pending;
      const image = imageOf(pending.task);
      const slot = idle.find((s) => image !== undefined && s.pinned === image) ?? idle[0];
      slot.busy = pending;
      slot.port.hold(true);
      // The worker keeps a part's operands until a task of another image comes (tasks.ts).
      const task =
        image !== undefined && slot.pinned === image ? withoutOperands(pending.task as PartTask) : pending.task;
      slot.pinned = image;
      // With it, a few buffers of merged results, where the worker copies its next results (partF32).
      const spares = this.spares.splice(0, SPARES_PER_TASK);
      slot.port.post({ type: 'task', task, spares }, [...pending.transfer, ...spares]);
    }
  }

  private finish(slot: Slot, data: WorkerReply): void {
    const pending = slot.busy;
    if (data.type === 'progress') {
      if (pending && !pending.settled) pending.control.advance(data.work);
      return;
    }
    if (data.type === 'ready') return;
    slot.busy = undefined;
    slot.memoryBytes = data.memoryBytes;
    slot.port.hold(false);
    // A task that did not finish leaves the worker's arena empty.
    if (data.type !== 'result') slot.pinned = undefined;
    if (pending && !pending.settled) {
      pending.settled = true;
      if (data.type === 'result') pending.resolve(data.result);
      else if (data.type === 'error') pending.reject(rebuildError(data.name, data.message));
    }
    this.pump();
  }

  /** A worker died: its job fails, a fresh worker takes its place. */
  private died(slot: Slot, reason: string): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return; // already replaced (error and exit both report one death)
    const pending = slot.busy;
    slot.busy = undefined;
    slot.port.terminate();
    if (pending && !pending.settled) {
      pending.settled = true;
      pending.reject(new Error(`forgery-losses: a worker died during the call (${reason}); it has been replaced`));
    }
    if (this.disposed) return;
    // Busy, so that pump() skips it while its replacement starts.
    const placeholder: Slot = { port: { post() {}, terminate() {}, hold() {} }, busy: STARTING, memoryBytes: 0 };
    this.slots[index] = placeholder;
    this.start().then(
      (fresh) => {
        if (this.disposed) return fresh.port.terminate();
        this.slots[index] = fresh;
        this.pump();
      },
      (error) => {
        // The runtime can no longer start workers: fail what waits rather than hang.
        this.slots.splice(this.slots.indexOf(placeholder), 1);
        if (this.slots.length === 0) for (const p of this.queue.splice(0)) p.reject(error);
      },
    );
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const slot of this.slots) {
      if (slot.busy && !slot.busy.settled) slot.busy.reject(new Error('forgery-losses: this engine has been disposed'));
      slot.port.terminate();
    }
    this.slots.length = 0;
    for (const p of this.queue.splice(0)) p.reject(new Error('forgery-losses: this engine has been disposed'));
  }
}

/** The image run a part task belongs to; undefined for the other tasks. */
function imageOf(task: Task): number | undefined {
  return task.kind === 'patchPart' || task.kind === 'ncePart' ? task.image : undefined;
}

function rebuildError(name: string, message: string): Error {
  if (name === 'RangeError') return new RangeError(message);
  if (name === 'TypeError') return new TypeError(message);
  return new Error(message);
}
