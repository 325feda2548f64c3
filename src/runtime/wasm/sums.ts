// The parts' float32 sums (docs/design.md §9), with the kernels' addF32 through scratch: the same
// IEEE sums as a JavaScript loop, several times faster, on an instance that may hold a suspended
// task's buffers.

import type { Arena } from './arena.js';
import { withScratch } from './scratch.js';

/** acc[offset + i] += part[i], float32. */
export function addF32(arena: Arena, acc: Float32Array, part: Float32Array, offset: number): void {
  const ran = withScratch(arena, 2, part.length + 3, ([dst, src], chunk) => {
    for (let i = 0; i < part.length; i += chunk) {
      const n = Math.min(chunk, part.length - i);
      const sum = arena.f32(dst, n);
      sum.set(acc.subarray(offset + i, offset + i + n));
      arena.f32(src, n).set(part.subarray(i, i + n));
      arena.kernels.addF32(dst, src, n);
      acc.set(sum, offset + i);
    }
  });
  if (!ran) for (let i = 0; i < part.length; i++) acc[offset + i] += part[i];
}
