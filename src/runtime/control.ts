// What a caller can do to a call in flight: stop it (an AbortSignal) and watch it (onProgress).
// The kernels run in bounded steps (jobs.ts), so the calling thread gets its event loop back
// between them; that is where an abort is noticed and progress reported (docs/design.md §8).

/** The error an aborted call rejects with: the signal's reason (an AbortError DOMException by default). */
export function abortReason(signal: AbortSignal): unknown {
  if (signal.reason !== undefined) return signal.reason;
  return typeof DOMException === 'function'
    ? new DOMException('This operation was aborted', 'AbortError')
    : Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
}

/** One call's cancellation and progress, shared by its jobs on every executor. */
export class CallControl {
  #done = 0;
  #failure: { reason: unknown } | null = null;
  readonly #listeners: ((reason: unknown) => void)[] = [];
  readonly #onAbort?: () => void;

  readonly #signal: AbortSignal | undefined;
  readonly #onProgress: ((done: number, total: number) => void) | undefined;

  constructor(
    signal: AbortSignal | undefined,
    onProgress: ((done: number, total: number) => void) | undefined,
    /** Work units of the whole call (jobs.ts jobWork and the cross-entropy steps). */
    readonly total: number,
  ) {
    this.#signal = signal;
    this.#onProgress = onProgress;
    if (!signal) return;
    if (signal.aborted) {
      this.stop(abortReason(signal));
      return;
    }
    this.#onAbort = () => this.stop(abortReason(signal));
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The call is over: a signal that outlives it (one for a whole training run) keeps no listener. */
  close(): void {
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
  }

  /** Non-null once the call must stop: its reason. */
  get stopped(): { reason: unknown } | null {
    return this.#failure;
  }

  throwIfStopped(): void {
    if (this.#failure) throw this.#failure.reason;
  }

  /** Runs `listener` when the call stops (at once if it already has). */
  onStop(listener: (reason: unknown) => void): void {
    if (this.#failure) listener(this.#failure.reason);
    else this.#listeners.push(listener);
  }

  /** Stops the call with `reason` (an abort, or an error of the progress callback). */
  stop(reason: unknown): void {
    if (this.#failure) return;
    this.#failure = { reason };
    for (const listener of this.#listeners.splice(0)) listener(reason);
  }

  /** `units` more of the total are done; reports progress, never decreasing. */
  advance(units: number): void {
    if (units <= 0 || this.#failure) return;
    this.#done = Math.min(this.total, this.#done + units);
    this.#report();
  }

  /** The call has finished: the last report says done === total. */
  finish(): void {
    if (this.#failure || this.#done === this.total) return;
    this.#done = this.total;
    this.#report();
  }

  #report(): void {
    if (!this.#onProgress) return;
    try {
      this.#onProgress(this.#done, this.total);
    } catch (error) {
      // A throwing callback fails the call rather than the worker message handler that ran it.
      this.stop(error);
    }
  }
}

type Scheduler = (resume: () => void) => void;

/** Resumes on a fresh macrotask with little delay: setImmediate (Node, Bun), else a MessageChannel. */
function makeScheduler(): Scheduler {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return (resume) => g.setImmediate!(resume);
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel();
    const waiting: (() => void)[] = [];
    channel.port1.onmessage = () => waiting.shift()?.();
    // Deno's ports keep the process alive unless unref'd; browsers have no unref.
    (channel.port1 as { unref?: () => void }).unref?.();
    return (resume) => {
      waiting.push(resume);
      channel.port2.postMessage(null);
    };
  }
  return (resume) => setTimeout(resume, 0);
}

let scheduler: Scheduler | undefined;

/** Gives the event loop back (timers, messages, rendering) and resumes right after. */
export function yieldToEventLoop(): Promise<void> {
  scheduler ??= makeScheduler();
  return new Promise((resume) => scheduler!(resume));
}

/** Longest stretch of kernel work between two turns of the event loop. */
export const SLICE_MS = 20;

/** Cuts work into slices of SLICE_MS, with a turn of the event loop between them. */
export class Slicer {
  #start = now();

  /** The current slice has run for SLICE_MS. */
  due(): boolean {
    return now() - this.#start >= SLICE_MS;
  }

  async yield(): Promise<void> {
    await yieldToEventLoop();
    this.#start = now();
  }

  async maybeYield(): Promise<void> {
    if (this.due()) await this.yield();
  }
}

function now(): number {
  return typeof performance === 'object' ? performance.now() : Date.now();
}
