// Scratch memory above whatever the arena holds: the calling thread's instance checks inputs and
// merges the parts' sums there while a suspended task may keep its buffers in the arena below.
// The scratch is left zeroed and the arena's end as it was.

import { type Arena, PAGE } from './arena.js';

/** Floats per chunk of scratch at most (1 MiB), and the bytes of free memory wanted at least. */
const MAX_CHUNK = 2 ** 18;
const MIN_SCRATCH = 2 ** 14;

/**
 * Floats of scratch free above the arena for `wanted` floats: the memory there is, at most 1 MiB,
 * growing it by a page only when under 16 KiB are free (the memory a call reserved stays its
 * limit); 0 when the runtime refuses the page.
 */
function scratchFloats(arena: Arena, wanted: number): number {
  const memory = arena.kernels.memory;
  let room = memory.buffer.byteLength - arena.mark() - 32;
  if (room < MIN_SCRATCH && wanted * 4 > room) {
    try {
      memory.grow(1);
    } catch {
      return 0;
    }
    room += PAGE;
  }
  return Math.max(1, Math.min(wanted, MAX_CHUNK, Math.floor(room / 4)));
}

/**
 * Runs `use(ptr, floats)` on `count` buffers of scratch, each of `floats` floats (a multiple of 4,
 * at most `wanted`), then zeroes them and restores the arena; returns false, running nothing, when
 * there is no scratch to be had.
 */
export function withScratch(
  arena: Arena,
  count: number,
  wanted: number,
  use: (ptrs: number[], floats: number) => void,
) {
  const end = arena.mark();
  const floats = Math.floor(scratchFloats(arena, count * wanted) / count) & ~3;
  if (floats === 0) return false;
  const ptrs = Array.from({ length: count }, () => arena.alloc(floats * 4));
  try {
    use(ptrs, floats);
  } finally {
    new Uint8Array(arena.kernels.memory.buffer, ptrs[0], count * floats * 4).fill(0);
    arena.resetTo(end);
  }
  return true;
}
