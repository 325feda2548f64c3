// How the pool starts a worker: a Spawner. Each entry brings its own, so that an entry's module
// graph holds only what its runtimes need: the browser entry starts module Web Workers from an
// inlined script (spawn-web.ts), the default entry also knows node:worker_threads (spawn-node.ts),
// the edge entry starts none.

/** One started worker, whichever kind. */
export interface WorkerPort {
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  terminate(): void;
  /** Node only: let the process exit while this worker is idle. */
  hold(busy: boolean): void;
}

/** What a worker tells the pool: its messages, and its death (an error, an exit, a bad message). */
export interface WorkerEvents {
  message(data: unknown): void;
  died(reason: string): void;
}

/** Starts one worker running the package's worker script; rejects when it cannot. */
export type Spawner = (events: WorkerEvents) => Promise<WorkerPort>;

/** What an entry knows about its runtime: how to start workers (if at all) and how many cores there are. */
export interface Platform {
  /** Absent where the entry has no worker script (the edge entry). */
  spawn?: Spawner;
  /** The core count, when the runtime tells it. */
  cores(): Promise<number | undefined>;
}

/** A module Web Worker (browsers, Deno, Bun) running the script at `url`. */
export function startWebWorker(url: string | URL, events: WorkerEvents): WorkerPort {
  const w = new Worker(url, { type: 'module' });
  w.onmessage = (e) => events.message(e.data);
  w.onerror = (e) => {
    e.preventDefault?.();
    events.died(e.message || 'worker error');
  };
  w.onmessageerror = () => events.died('a message could not be deserialized');
  return { post: (m, t) => w.postMessage(m, t ?? []), terminate: () => w.terminate(), hold: () => {} };
}

/** navigator.hardwareConcurrency, where there is a navigator. */
export function navigatorCores(): number | undefined {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency || undefined;
}

/** No workers (the edge entry): threads > 1 run in the calling thread, with a note saying so. */
export const NO_WORKERS: Platform = { cores: async () => navigatorCores() };
