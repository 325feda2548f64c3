// Worker pool: per-image jobs spread over worker threads.
//
// Model: the compiled WebAssembly.Module is posted once to each worker, which instantiates it
// with its own memory (no shared memory, so no COOP/COEP headers and no allocator races). A job
// is one image; a worker runs one job at a time, and the calling thread queues the rest and hands
// each to the next idle worker. Inputs and outputs move as transferred per-image copies.
// Results are reduced by the callers in image order, so nothing depends on the thread count or on
// which worker finished first.
// Thresholds: cross-entropy never leaves the calling thread (a batch costs about as much as its
// transfer); the contrastive losses always use the pool when it has more than one worker.
// Failure: a worker that dies mid-job rejects that job with an Error, is replaced, and the pool
// goes on. Workers are unref'd while idle (Node), so an idle pool never keeps a process alive.
// Runtimes: Node (node:worker_threads; Node 20 has no global Worker), and module Web Workers in
// browsers, Deno and Bun. A page needs only dist/worker.js served beside dist/index.js.

import { type ImageResult, transferList } from '../losses/imageJobs';
import type { Executor, JobMaker } from './executor';

const READY_TIMEOUT_MS = 15_000;

interface Port {
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  terminate(): void;
  /** Node only: let the process exit while this worker is idle. */
  hold(busy: boolean): void;
}

interface Handlers {
  message(data: WorkerReply): void;
  died(reason: string): void;
}

type WorkerReply =
  | { type: 'ready' }
  | { type: 'result'; result: ImageResult }
  | { type: 'error'; name: string; message: string };

interface Pending {
  make: JobMaker;
  resolve(result: ImageResult): void;
  reject(error: unknown): void;
}

interface Slot {
  port: Port;
  busy?: Pending;
}

/** Starts a worker from `url`, whichever Worker this runtime has. */
async function spawn(url: URL, handlers: Handlers): Promise<Port> {
  const WebWorker = (globalThis as { Worker?: typeof Worker }).Worker;
  if (typeof WebWorker === 'function') {
    const w = new WebWorker(url, { type: 'module' });
    w.onmessage = (e) => handlers.message(e.data as WorkerReply);
    w.onerror = (e) => {
      e.preventDefault?.();
      handlers.died(e.message || 'worker error');
    };
    w.onmessageerror = () => handlers.died('a message could not be deserialized');
    return { post: (m, t) => w.postMessage(m, t ?? []), terminate: () => w.terminate(), hold: () => {} };
  }
  const { Worker: NodeWorker } = await import('node:worker_threads');
  // By default a worker inherits the process's flags, and Node refuses some of them in a worker
  // (--input-type of node -e scripts, V8 flags such as --experimental-wasm-relaxed-simd). The
  // worker needs none: V8 flags are process-wide, and the module arrives compiled.
  const w = new NodeWorker(url, { execArgv: [] });
  w.on('message', (data) => handlers.message(data as WorkerReply));
  w.on('error', (e) => handlers.died(e.message));
  w.on('exit', (code) => handlers.died(`exit code ${code}`));
  return {
    post: (m, t) => w.postMessage(m, t ?? []),
    terminate: () => void w.terminate(),
    hold: (busy) => (busy ? w.ref() : w.unref()),
  };
}

export class WorkerPool implements Executor {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private disposed = false;

  private constructor(
    private readonly module: WebAssembly.Module,
    private readonly url: URL,
    readonly threads: number,
  ) {}

  /** A pool of `threads` ready workers; rejects when a worker cannot start or answer. */
  static async create(module: WebAssembly.Module, url: URL, threads: number): Promise<WorkerPool> {
    const pool = new WorkerPool(module, url, threads);
    try {
      for (let i = 0; i < threads; i++) pool.slots.push(await pool.start());
    } catch (error) {
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
      spawn(this.url, {
        message: (data) => {
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
          slot = { port };
          port.post({ type: 'init', module: this.module });
        },
        (error) => fail(String(error?.message ?? error)),
      );
    });
  }

  run(make: JobMaker): Promise<ImageResult> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ make, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      const pending = this.queue.shift() as Pending;
      try {
        const job = pending.make(true);
        slot.busy = pending;
        slot.port.hold(true);
        slot.port.post({ type: 'job', job }, transferList(job));
      } catch (error) {
        slot.busy = undefined;
        pending.reject(error);
      }
    }
  }

  private finish(slot: Slot, data: WorkerReply): void {
    const pending = slot.busy;
    slot.busy = undefined;
    slot.port.hold(false);
    if (pending) {
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
    if (pending)
      pending.reject(new Error(`forgery-losses: a worker died during the call (${reason}); it has been replaced`));
    if (this.disposed) return;
    const placeholder: Slot = {
      port: { post() {}, terminate() {}, hold() {} },
      busy: {
        make: () => {
          throw new Error('starting');
        },
        resolve() {},
        reject() {},
      },
    };
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

  /** Test hook: the first worker dies during its next job, as if its thread had failed. */
  crashOneWorker(): void {
    this.slots[0]?.port.post({ type: 'crash' });
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const slot of this.slots) {
      slot.busy?.reject(new Error('forgery-losses: this engine has been disposed'));
      slot.port.terminate();
    }
    this.slots.length = 0;
    for (const p of this.queue.splice(0)) p.reject(new Error('forgery-losses: this engine has been disposed'));
  }
}

function rebuildError(name: string, message: string): Error {
  if (name === 'RangeError') return new RangeError(message);
  if (name === 'TypeError') return new TypeError(message);
  return new Error(message);
}
