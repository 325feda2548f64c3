// A band's rows of its image's Z, norms and dZ (schedule/bands.ts), gathered into the arena by the
// worker that runs the band's backward pass, so that the calling thread copies and sums nothing
// between the similarity passes and the backward pass (docs/design.md §9). Z and the norms come
// from the image's shared copies; dZ is summed from the parts' slots in part order, starting at
// +0 and skipping the rows a part did not write — the float32 sums the calling thread makes for a
// whole image, so the bits are the same. The rows go in ascending order: a band's patches lie in a
// run of pristine rows and a run of forged rows, which are copied and summed run by run.

import type { WasmInstance } from './instance.js';
import { roundUp8 } from './layout.js';
import type { PatchBackwardTask } from './protocol.js';

/** Arena addresses of the band's rows of Z, dZ and the norms, in ascending row order, and its row map. */
export function bandRows({ arena: ws, kernels: k }: WasmInstance, t: PatchBackwardTask, at: Int32Array) {
  const cp = roundUp8(t.c);
  // The band's patches by ascending row; each patch's place in that order is its row here.
  const order = Int32Array.from(at.keys()).sort((i, j) => at[i] - at[j]);
  const rowOf = new Int32Array(at.length);
  // Runs of consecutive rows: their first row here, and the image's rows [a, b).
  const runs: number[][] = [];
  order.forEach((patch, i) => {
    rowOf[patch] = i;
    const run = runs.at(-1);
    if (run && run[2] === at[patch]) run[2]++;
    else runs.push([i, at[patch], at[patch] + 1]);
  });
  const z = ws.alloc(at.length * cp * 4),
    norms = ws.alloc(at.length * 8),
    dz = ws.allocZeroed(at.length * cp * 4),
    part = ws.alloc(Math.max(...runs.map(([, a, b]) => b - a)) * cp * 4);
  for (const [i, a, b] of runs) {
    ws.f32(z + i * cp * 4, (b - a) * cp).set(t.z.subarray(a * cp, b * cp));
    ws.f64(norms + i * 8, b - a).set(t.norms.subarray(a, b));
  }
  for (const { rows, spans } of t.dzSlots ?? []) {
    let offset = 0;
    for (const [from, to] of spans) {
      for (const [i, a, b] of runs) {
        const lo = Math.max(a, from),
          n = (Math.min(b, to) - lo) * cp;
        if (n <= 0) continue;
        ws.f32(part, n).set(rows.subarray((offset + lo - from) * cp, (offset + lo - from) * cp + n));
        k.addF32(dz + (i + lo - a) * cp * 4, part, n);
      }
      offset += to - from;
    }
  }
  return { z, dz, norms, rowOf: ws.put(rowOf) };
}
