// Reuse of the call-time copies of large inputs (docs/design.md §8), per engine. A call copies each
// image's features when it is made; into fresh pages that copy runs several times slower than into
// memory already touched. A copy that a finished call does not hand out (its gradient went into
// `gradInto` or into a batch array, or no gradient was asked for) is kept for the next call's
// copies of the same length, and let go after a second without such a call, or on dispose. Shared
// copies (a SharedArrayBuffer: workers read and write them, schedule/bands.ts, and the operands of
// the passes travel in them) are kept apart from the others.

/** Copies under 1 MiB are not kept: fresh memory that small is cheap. */
const MIN_FLOATS = 2 ** 18;
/** How long kept copies outlive the last call that used or returned one. */
const IDLE_MS = 1000;

/** Whether this runtime can share memory with its workers (browsers: a cross-origin isolated page only). */
export const canShare =
  typeof SharedArrayBuffer === 'function' &&
  (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;

/** Whether `view` lies in a SharedArrayBuffer. */
export function isShared(view: ArrayBufferView): boolean {
  return canShare && view.buffer instanceof SharedArrayBuffer;
}

export class CopyCache {
  readonly #kept = new Map<number, Float32Array[]>();
  readonly #keptShared = new Map<number, Float32Array[]>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** An array of `length` floats, unspecified contents: a kept one if there is one, else fresh. */
  take(length: number, shared = false): Float32Array {
    const share = shared && canShare;
    const reused = (share ? this.#keptShared : this.#kept).get(length)?.pop();
    if (reused) {
      this.#armRelease();
      return reused;
    }
    return share ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float32Array(length);
  }

  /**
   * Keeps arrays that no one else holds any more, for later copies. The caller guarantees that: an
   * array given here must not be in a result, an input, or another call.
   */
  recycle(...arrays: (Float32Array | undefined)[]): void {
    let any = false;
    for (const a of arrays) {
      // Small, detached (a transfer that never came back), or a view into a larger buffer: not kept.
      if (!a || a.length < MIN_FLOATS || a.byteOffset !== 0 || a.buffer.byteLength !== a.byteLength) continue;
      const shared = isShared(a);
      if (!shared && !(a.buffer instanceof ArrayBuffer)) continue;
      const lists = shared ? this.#keptShared : this.#kept;
      const list = lists.get(a.length) ?? [];
      if (list.includes(a)) continue;
      list.push(a);
      lists.set(a.length, list);
      any = true;
    }
    if (any) this.#armRelease();
  }

  /**
   * `view`'s values in shared memory, where this runtime can share it (else `view` itself): a
   * worker's message carries a shared array without copying it, where a structured clone copies
   * on both sides (docs/design.md §9). The caller recycles the copy once no task reads it.
   */
  shared(view: Float32Array): Float32Array {
    if (!canShare || isShared(view)) return view;
    const copy = this.take(view.length, true);
    copy.set(view);
    return copy;
  }

  /** Floats held in kept arrays. */
  heldFloats(): number {
    let n = 0;
    for (const [length, list] of [...this.#kept, ...this.#keptShared]) n += length * list.length;
    return n;
  }

  /** Lets every kept array go. */
  release(): void {
    this.#kept.clear();
    this.#keptShared.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** (Re)starts the idle clock; the timer never keeps a process alive. */
  #armRelease(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const timer = setTimeout(() => this.release(), IDLE_MS);
    this.#timer = timer;
    const handle = timer as unknown as { unref?: () => void };
    if (typeof handle.unref === 'function') handle.unref();
    else if (typeof timer === 'number')
      (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno?.unrefTimer?.(timer);
  }
}
