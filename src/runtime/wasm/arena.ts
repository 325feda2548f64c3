// A wasm instance's arena (assembly/memory.ts, a bump allocator): buffers allocated for one task,
// typed arrays copied in, results read out. Views are made afresh from `memory.buffer` every time,
// because growing the memory detaches every earlier view. `reset` frees everything at once; the
// operands of one image's similarity passes may stay pinned at the bottom from one task to the
// next (run-task.ts).

import { formatBytes } from '../../format.js';
import type { Kernels } from './kernels.js';

export const PAGE = 65536;

type UnsafeBuffer = { allocUnsafeSlow(size: number): Uint8Array };
const NodeBuffer = (globalThis as { Buffer?: UnsafeBuffer }).Buffer;

/**
 * An uninitialized Float32Array of n floats where the runtime offers one (Node, Bun:
 * Buffer.allocUnsafeSlow, its own ArrayBuffer): every byte is overwritten at once, so zeroing it
 * first would be a wasted pass over a large gradient.
 */
export function allocateF32(n: number): Float32Array {
  if (NodeBuffer && n >= 1024) {
    const bytes = NodeBuffer.allocUnsafeSlow(n * 4);
    return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  }
  return new Float32Array(n);
}

export class Arena {
  /** Where the arena starts (after the module's static data). */
  readonly #start: number;
  /** Buffers kept at the bottom from one task to the next: one image's similarity operands. */
  #pinned: { image: number; end: number; ptrs: number[] } | null = null;

  constructor(readonly kernels: Kernels) {
    kernels.reset();
    this.#start = kernels.alloc(16) >>> 0;
    kernels.reset();
  }

  /**
   * Grows the memory now, so that `bytes` of arena fit: the kernels then never grow it themselves,
   * and a runtime that refuses the memory gives a RangeError before any work instead of a trap.
   */
  reserve(bytes: number, what: string): void {
    const memory = this.kernels.memory;
    const have = memory.buffer.byteLength / PAGE,
      want = Math.ceil((this.#start + bytes) / PAGE);
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

  reset(): void {
    this.#pinned = null;
    this.kernels.reset();
  }

  /**
   * The arena down to the pinned buffers of `image`, if they are there; else empty, with `make`'s
   * buffers pinned at its bottom. Returns their pointers.
   */
  pin(image: number, make: () => number[]): number[] {
    if (this.#pinned?.image === image) {
      this.kernels.resetTo(this.#pinned.end);
      return this.#pinned.ptrs;
    }
    this.reset();
    const ptrs = make();
    this.#pinned = { image, end: this.mark(), ptrs };
    return ptrs;
  }

  /** Frees what was allocated above the pinned buffers (everything when none are). */
  release(): void {
    if (this.#pinned) this.kernels.resetTo(this.#pinned.end);
    else this.kernels.reset();
  }

  /** The arena's end: what `resetTo` returns to. */
  mark(): number {
    return this.kernels.mark() >>> 0;
  }

  resetTo(end: number): void {
    this.kernels.resetTo(end);
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

  /** Copies numbers in as float32 / float64. */
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

  /** A fresh Float32Array holding n floats from `ptr` (a result the caller keeps). */
  copyF32(ptr: number, n: number): Float32Array {
    const out = allocateF32(n);
    out.set(this.f32(ptr, n));
    return out;
  }

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
