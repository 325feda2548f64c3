// Buffers in wasm memory for one call (or one image): allocate, copy typed arrays in, read results
// out. Views are made afresh from `memory.buffer` every time, because growing the memory detaches
// every earlier view. `reset` frees everything at once (the kernels' allocator is an arena).

import { checkFiniteJs, copyIntoPieces, reportNonFinite } from '../validate.js';
import { formatBytes } from './context.js';
import type { Kernels } from './kernels.js';

const PAGE = 65536;
/** Part results' buffers kept for reuse (partF32): at most 32 MiB of them, none under 64 KiB. */
const MAX_SPARE_BYTES = 2 ** 25;
const MIN_SPARE_BYTES = 2 ** 16;

/** Whether a merged result's buffer is worth handing back for reuse (Workspace.donate, pool.ts). */
export function worthKeeping(buffer: ArrayBuffer): boolean {
  return buffer.byteLength >= MIN_SPARE_BYTES;
}
/** Floats per chunk of scratch at most (1 MiB), and the bytes of scratch wanted at least. */
const MAX_CHUNK = 2 ** 18;
const MIN_SCRATCH = 2 ** 14;

type UnsafeBuffer = { allocUnsafeSlow(size: number): Uint8Array };
const NodeBuffer = (globalThis as { Buffer?: UnsafeBuffer }).Buffer;

/** An uninitialized Float32Array of n floats where the runtime offers one (its own ArrayBuffer). */
function allocateF32(n: number): Float32Array {
  if (NodeBuffer && n >= 1024) {
    const bytes = NodeBuffer.allocUnsafeSlow(n * 4);
    return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  }
  return new Float32Array(n);
}

export class Workspace {
  /** Where the arena starts (after the module's static data). */
  private readonly start: number;

  constructor(private readonly kernels: Kernels) {
    kernels.reset();
    this.start = kernels.alloc(16) >>> 0;
    kernels.reset();
  }

  /**
   * Grows the memory now, so that `bytes` of arena fit: the kernels then never grow it themselves,
   * and a runtime that refuses the memory gives a RangeError before any work instead of a trap.
   */
  reserve(bytes: number, what: string): void {
    const memory = this.kernels.memory;
    const have = memory.buffer.byteLength / PAGE,
      want = Math.ceil((this.start + bytes) / PAGE);
    if (want <= have) return;
    try {
      memory.grow(want - have);
    } catch (error) {
      throw new RangeError(
        `${what} needs about ${formatBytes(bytes)} of wasm memory, and the runtime refused to grow ` +
          `the memory to it (${(error as Error)?.message ?? error})`,
      );
    }
  }

  /**
   * Buffers kept at the bottom of the arena from one task to the next: the operands of one image's
   * similarity passes and their panels (tasks.ts). Any reset drops them.
   */
  pinned: { image: number; end: number; ptrs: number[] } | null = null;

  reset(): void {
    this.pinned = null;
    this.kernels.reset();
  }

  /**
   * The arena down to the pinned buffers of `image`, if they are there; else empty, with `make`'s
   * buffers pinned at its bottom. Returns their pointers.
   */
  pin(image: number, make: () => number[]): number[] {
    if (this.pinned?.image === image) {
      this.kernels.resetTo(this.pinned.end);
      return this.pinned.ptrs;
    }
    this.reset();
    const ptrs = make();
    this.pinned = { image, end: this.kernels.mark() >>> 0, ptrs };
    return ptrs;
  }

  /** Frees what was allocated above the pinned buffers (everything when none are). */
  release(): void {
    if (this.pinned) this.kernels.resetTo(this.pinned.end);
    else this.kernels.reset();
  }

  private queue: Promise<unknown> = Promise.resolve();
  private holders = 0;

  /** True while a task holds (or waits for) the arena: a new user must then queue behind it. */
  get busy(): boolean {
    return this.holders > 0;
  }

  /**
   * Runs `task` alone on this instance. A job that yields between its steps keeps its buffers in
   * the arena, so another job or call waits for it instead of resetting them.
   */
  exclusive<T>(task: () => Promise<T> | T): Promise<T> {
    // Idle: the task starts now, in this turn (it reads its inputs before the caller goes on).
    const run = this.holders++ === 0 ? new Promise<T>((resolve) => resolve(task())) : this.queue.then(task);
    this.queue = run.then(
      () => this.holders--,
      () => this.holders--,
    );
    return run;
  }

  /**
   * Checks that every value is finite, in chunks through a scratch buffer above whatever the arena
   * holds (a job suspended between its steps keeps its buffers). The scratch uses the memory there
   * is (growing it by a page only when under 16 KiB are free), is zeroed afterwards, and leaves the
   * arena as it was; throws a RangeError naming the first bad value of `field`. With `into`, each
   * chunk is copied on from the scratch (validate.ts FiniteCheck).
   */
  checkFinite(values: Float32Array, field: string, into?: Float32Array[]): void {
    const k = this.kernels;
    const end = k.mark() >>> 0;
    const chunk = this.scratchFloats(values.length);
    if (chunk === 0) {
      checkFiniteJs(values, field, into); // a runtime that refuses memory still gets the check
      return;
    }
    const ptr = this.alloc(chunk * 4);
    const view = this.f32(ptr, chunk);
    try {
      for (let i = 0; i < values.length; i += chunk) {
        const part = values.subarray(i, i + chunk);
        view.set(part);
        const bad = k.findNonFinite(ptr, part.length);
        if (bad >= 0) reportNonFinite(values, field, bad, i);
        if (into) copyIntoPieces(view.subarray(0, part.length), i, into);
      }
    } finally {
      view.fill(0);
      k.resetTo(end);
    }
  }

  /**
   * acc[offset + i] += part[i] in float32, the same sums as the JavaScript loop, in chunks through
   * scratch above whatever the arena holds (left as it was, and zeroed): a part's merge
   * (image.ts) while the same instance may hold a suspended job.
   */
  addF32(acc: Float32Array, part: Float32Array, offset: number): void {
    const k = this.kernels;
    const end = k.mark() >>> 0;
    // A multiple of 4 floats, so that `src` starts where `dst` ends and one fill zeroes both.
    const chunk = (this.scratchFloats(2 * part.length) >> 1) & ~3;
    if (chunk === 0) {
      for (let i = 0; i < part.length; i++) acc[offset + i] += part[i];
      return;
    }
    const dst = this.alloc(chunk * 4),
      src = this.alloc(chunk * 4);
    try {
      for (let i = 0; i < part.length; i += chunk) {
        const n = Math.min(chunk, part.length - i);
        const sum = this.f32(dst, n);
        sum.set(acc.subarray(offset + i, offset + i + n));
        this.f32(src, n).set(part.subarray(i, i + n));
        k.addF32(dst, src, n);
        acc.set(sum, offset + i);
      }
    } finally {
      new Uint8Array(k.memory.buffer, dst, chunk * 8).fill(0);
      k.resetTo(end);
    }
  }

  /**
   * Floats of scratch free above the arena for `wanted` floats: the memory there is, at most 1 MiB,
   * growing it by a page only when under 16 KiB are free (the memory an engine reserved stays its
   * limit); 0 when the runtime refuses the page.
   */
  private scratchFloats(wanted: number): number {
    const k = this.kernels;
    let room = k.memory.buffer.byteLength - (k.mark() >>> 0) - 32;
    if (room < MIN_SCRATCH && wanted * 4 > room) {
      try {
        k.memory.grow(1);
      } catch {
        return 0;
      }
      room += PAGE;
    }
    return Math.max(1, Math.min(wanted, MAX_CHUNK, Math.floor(room / 4)));
  }

  /** `bytes` bytes, 16-byte aligned, contents undefined. */
  alloc(bytes: number): number {
    // The export returns an i32: an address past 2 GiB would read as negative.
    return this.kernels.alloc(Math.max(16, bytes)) >>> 0;
  }

  /** `bytes` bytes set to zero. */
  allocZeroed(bytes: number): number {
    const ptr = this.alloc(bytes);
    new Uint8Array(this.kernels.memory.buffer, ptr, bytes).fill(0);
    return ptr;
  }

  /** Copies a typed array in, byte for byte. */
  put(src: ArrayBufferView): number {
    const ptr = this.alloc(src.byteLength);
    new Uint8Array(this.kernels.memory.buffer, ptr, src.byteLength).set(
      new Uint8Array(src.buffer, src.byteOffset, src.byteLength),
    );
    return ptr;
  }

  /** Copies numbers in as float32 / float64 / int32. */
  putF32(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length * 4);
    this.f32(ptr, values.length).set(values);
    return ptr;
  }

  putF64(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length * 8);
    this.f64(ptr, values.length).set(values);
    return ptr;
  }

  putI32(values: ArrayLike<number>): number {
    const ptr = this.alloc(values.length * 4);
    this.i32(ptr, values.length).set(values);
    return ptr;
  }

  /**
   * A fresh Float32Array holding n floats from `ptr` (a result the caller keeps). In Node and Bun its
   * memory comes from Buffer.allocUnsafeSlow: not zeroed first, since every byte is overwritten,
   * which saves a pass over large gradients. Elsewhere a plain Float32Array.
   */
  copyF32(ptr: number, n: number): Float32Array {
    const out = allocateF32(n);
    out.set(this.f32(ptr, n));
    return out;
  }

  /**
   * A copy of n floats for a part's result (tasks.ts), which is merged and then handed back
   * (`donate`): in the smallest donated buffer that holds it, so that no fresh pages are faulted in
   * for it, else fresh.
   */
  partF32(ptr: number, n: number): Float32Array {
    if (n * 4 < MIN_SPARE_BYTES) return this.copyF32(ptr, n); // not worth keeping
    let best = -1;
    for (let i = 0; i < this.spares.length; i++) {
      const size = this.spares[i].byteLength;
      if (size >= n * 4 && (best < 0 || size < this.spares[best].byteLength)) best = i;
    }
    if (best < 0) return this.copyF32(ptr, n);
    const out = new Float32Array(this.spares.splice(best, 1)[0], 0, n);
    out.set(this.f32(ptr, n));
    return out;
  }

  /** Buffers of merged part results, for later ones (partF32): the latest, within MAX_SPARE_BYTES. */
  donate(buffers: ArrayBuffer[]): void {
    for (const b of buffers) if (worthKeeping(b) && !this.spares.includes(b)) this.spares.push(b);
    let bytes = 0;
    for (let i = this.spares.length - 1; i >= 0; i--) {
      bytes += this.spares[i].byteLength;
      if (bytes > MAX_SPARE_BYTES) {
        this.spares.splice(0, i + 1);
        break;
      }
    }
  }

  private readonly spares: ArrayBuffer[] = [];

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.kernels.memory.buffer, ptr, n);
  }

  f64(ptr: number, n: number): Float64Array {
    return new Float64Array(this.kernels.memory.buffer, ptr, n);
  }

  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.kernels.memory.buffer, ptr, n);
  }

  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.kernels.memory.buffer, ptr, n);
  }

  /** Bytes of wasm memory held now (it never shrinks). */
  memoryBytes(): number {
    return this.kernels.memory.buffer.byteLength;
  }
}
