// Buffers of merged part results, handed back to the instance that made them (docs/design.md §9):
// a part copies its results into the smallest one that holds them, so no fresh pages are faulted
// in for each part and the garbage collector sees less.

import { type Arena, allocateF32 } from './arena.js';

/** At most 32 MiB kept, none under 64 KiB (fresh memory that small is cheap). */
const MAX_BYTES = 2 ** 25;
const MIN_BYTES = 2 ** 16;

/** Whether a merged result's buffer is worth handing back for reuse. */
export function worthKeeping(buffer: ArrayBufferLike): boolean {
  return buffer.byteLength >= MIN_BYTES;
}

export class PartBuffers {
  readonly #kept: ArrayBuffer[] = [];

  /** A copy of n floats from `ptr` for a part's result: in a kept buffer when one holds it, else fresh. */
  copy(arena: Arena, ptr: number, n: number): Float32Array {
    let best = -1;
    if (n * 4 >= MIN_BYTES) {
      for (let i = 0; i < this.#kept.length; i++) {
        const size = this.#kept[i].byteLength;
        if (size >= n * 4 && (best < 0 || size < this.#kept[best].byteLength)) best = i;
      }
    }
    const out = best < 0 ? allocateF32(n) : new Float32Array(this.#kept.splice(best, 1)[0], 0, n);
    out.set(arena.f32(ptr, n));
    return out;
  }

  /** Buffers of merged part results, for later ones: the latest, within MAX_BYTES. */
  donate(buffers: ArrayBuffer[]): void {
    for (const b of buffers) if (worthKeeping(b) && !this.#kept.includes(b)) this.#kept.push(b);
    let bytes = 0;
    for (let i = this.#kept.length - 1; i >= 0; i--) {
      bytes += this.#kept[i].byteLength;
      if (bytes > MAX_BYTES) {
        this.#kept.splice(0, i + 1);
        break;
      }
    }
  }
}
