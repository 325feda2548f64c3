// patchContrast's stage 1 at call time, on the calling thread's instance (docs/design.md §8): the
// caller's features pass through the arena a few channels at a time, each chunk pooled while it
// is in cache, and checked for non-finite values through the norms of Z. The call then keeps Z
// and its norms, not a copy of the features: one read of them instead of a copy and a second
// read, and no features copy to hold. Z gets the bits the pooling task gives it (patch-tasks.ts
// patchPool).

import { reportNonFinite } from '../../validate.js';
import { type Arena, PAGE } from './arena.js';
import { channelChunk, roundUp8 } from './layout.js';

/** An image's sizes and row map, as the pooling task takes them. */
export interface PoolGeometry {
  c: number;
  h: number;
  w: number;
  p: number;
  rowOf: Int32Array;
  /** Rows of Z (the image's N_p). */
  rows: number;
}

/** Grows the memory so that `end` bytes fit within `limit`; false where it may not or cannot. */
function makeRoom(arena: Arena, end: number, limit: number): boolean {
  const memory = arena.kernels.memory;
  if (end <= memory.buffer.byteLength) return true;
  if (end > limit) return false;
  try {
    memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
    return true;
  } catch {
    return false;
  }
}

/**
 * Pools the image at `first` of the caller's `features` into `zOut` (rows × C_p floats, its padding
 * rows zero) and returns its row norms; throws a RangeError naming the image's first non-finite
 * value.
 * Returns null, having done nothing, where the instance cannot hold the buffers within
 * `limitBytes` of memory: the caller then copies the features instead. The arena's end is left as
 * it was, and the memory it used zeroed (scratch.ts).
 */
export function poolAtCall(
  arena: Arena,
  limitBytes: number,
  features: Float32Array,
  first: number,
  g: PoolGeometry,
  zOut: Float32Array,
): Float64Array | null {
  const k = arena.kernels;
  const pixels = g.h * g.w,
    cp = roundUp8(g.c);
  const chunk = channelChunk(g.c, pixels);
  const zBytes = g.rows * cp * 4;
  const end = arena.mark();
  // Each buffer is rounded up to 16 bytes by the arena.
  const need = zBytes + g.rows * 8 + g.rowOf.length * 4 + chunk * pixels * 4 + 4 * 16;
  if (!makeRoom(arena, end + need, limitBytes)) return null;
  try {
    const rowOf = arena.put(g.rowOf),
      z = arena.allocZeroed(zBytes),
      norms = arena.alloc(g.rows * 8),
      scratch = arena.alloc(chunk * pixels * 4);
    for (let c0 = 0; c0 < g.c; c0 += chunk) {
      const from = first + c0 * pixels,
        count = Math.min(chunk, g.c - c0);
      arena.f32(scratch, count * pixels).set(features.subarray(from, from + count * pixels));
      k.patchContrastPoolChannels(scratch, c0, count, g.c, g.h, g.w, g.p, rowOf, z);
    }
    k.patchContrastNormalize(z, g.rows, g.c, norms);
    const out = arena.f64(norms, g.rows).slice();
    // Every pixel lies in a patch, and a non-finite one makes its patch's norm non-finite: only
    // then is the image scanned, for the error to name it.
    if (!out.every(Number.isFinite)) {
      const image = features.subarray(first, first + g.c * pixels);
      reportNonFinite(
        features,
        'features',
        image.findIndex((v) => !Number.isFinite(v)),
        first,
      );
    }
    zOut.set(arena.f32(z, g.rows * cp));
    return out;
  } finally {
    new Uint8Array(k.memory.buffer, end, arena.mark() - end).fill(0);
    arena.resetTo(end);
  }
}
