// GFLOP/s of the tiled phases of the contrastive kernels, measured by calling the kernel exports
// directly at a case's sizes (one thread): the similarity strips S = A·Bᵀ, the weighted
// accumulation G·B and its transposed form Gᵀ·A, best of 5 passes each. Prints one JSON line.
// Reads the kernels' test build beside $FL_BENCH_DIST (bench/compare.mjs's snapshot) when set, else build/.
//   node [--experimental-wasm-relaxed-simd] bench/phases.mjs <rows> <cols> <channels> <simd|relaxed>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { groupRow } from '../support/arena.mjs';

const [rows, cols, channels, build = 'simd'] = process.argv.slice(2).map((v, i) => (i < 3 ? Number(v) : v));
const STRIP = 32;
// The test build: the product's exports and the phases alone, which only tests and benchmarks call.
const file = `kernels.testing${build === 'relaxed' ? '-relaxed' : ''}.wasm`;
const dist = process.env.FL_BENCH_DIST;
const bytes = readFileSync(dist ? join(dist, '..', 'build', file) : new URL(`../build/${file}`, import.meta.url));
const k = (await WebAssembly.instantiate(bytes, {})).instance.exports;
const r8 = (rows + 7) & ~7,
  c8 = (cols + 7) & ~7,
  cp = (channels + 7) & ~7;
const a = k.alloc(r8 * cp * 4),
  b = k.alloc(c8 * cp * 4),
  panels = k.alloc(2 * c8 * cp * 4),
  packedA = k.alloc(2 * r8 * cp * 4);
const strip = k.alloc(STRIP * c8 * 4),
  outA = k.alloc(r8 * cp * 4),
  outB = k.alloc(c8 * cp * 4);
const fill = (ptr, n) => {
  const v = new Float32Array(k.memory.buffer, ptr, n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37) * 0.1;
};
fill(a, r8 * cp);
fill(b, c8 * cp);
k.packOperand(b, c8, cp, panels);
k.packOperand(a, r8, cp, packedA);
// The accumulations' operands: the groups of B and A.
const groupsB = groupRow(panels, c8, cp, 0),
  groupsA = groupRow(packedA, r8, cp, 0);

/** Best of 5 timings of one full pass over the row strips (other processes may share the CPU). */
function best(pass) {
  let min = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t = performance.now();
    for (let i0 = 0; i0 < r8; i0 += STRIP) pass(i0, Math.min(STRIP, r8 - i0));
    min = Math.min(min, performance.now() - t);
  }
  return min;
}
const flops = 2 * r8 * c8 * cp;
const gflops = (ms) => Number((flops / ms / 1e6).toFixed(1));
const similarity = best((i0, n) => k.similarityStrip(a + i0 * cp * 4, n, panels, c8 / 8, cp, 1, strip, c8));
const weighted = best((i0, n) => k.accumulateWeighted(strip, n, c8, c8, groupsB, c8, cp, outA + i0 * cp * 4));
const transposed = best((i0, n) => k.accumulateWeightedTransposed(strip, n, c8, c8, groupsA + i0 * 32, r8, cp, outB));
console.log(
  JSON.stringify({
    build,
    rows,
    cols,
    channels,
    similarity: gflops(similarity),
    weighted: gflops(weighted),
    transposed: gflops(transposed),
  }),
);
