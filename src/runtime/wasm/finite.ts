// The finite check of large float inputs, in wasm SIMD through scratch (a JavaScript loop over a
// 200 MB feature map costs a noticeable share of the loss itself), copying each checked chunk on
// into the call's own copies while it is still in cache (docs/design.md §8).

import { checkFiniteJs, copyIntoPieces, reportNonFinite } from '../../validate.js';
import type { Arena } from './arena.js';
import { withScratch } from './scratch.js';

/**
 * Throws a RangeError naming the first non-finite value of `field`; with `into`, copies `values`
 * on into those arrays, one after the other (validate.ts FiniteCheck).
 */
export function checkFinite(arena: Arena, values: Float32Array, field: string, into?: Float32Array[]): void {
  const ran = withScratch(arena, 1, values.length + 3, ([ptr], chunk) => {
    const view = arena.f32(ptr, chunk);
    for (let i = 0; i < values.length; i += chunk) {
      const part = values.subarray(i, i + chunk);
      view.set(part);
      const bad = arena.kernels.findNonFinite(ptr, part.length);
      if (bad >= 0) reportNonFinite(values, field, bad, i);
      if (into) copyIntoPieces(view.subarray(0, part.length), i, into);
    }
  });
  // A runtime that refuses memory still gets the check.
  if (!ran) checkFiniteJs(values, field, into);
}
