// Where one image's time goes (one thread), pass by pass: each pass of the kernels run through
// the raw exports at a case's sizes (its first image), against the same pass's GEMMs alone — the
// similarity strips and weighted accumulations it calls, at the same shapes, in the same order,
// without anything between them — timed alternately with it in this process, so that "outside"
// is the share of a pass that is not micro-kernel work (exp, log, σ, the row and column
// statistics, masks, stores) whatever the machine's speed at the moment. Also the stages around
// the passes. Best of 5 each. Prints one JSON line per pass. Reads the kernels from $FL_BENCH_DIST
// when set.
//   node [--experimental-wasm-relaxed-simd] bench/passes.mjs <pc1|nce-full> <variant> <simd|relaxed>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { arena, groupRow } from '../support/arena.mjs';
import { makeCase } from '../support/cases.mjs';

const [name, variant, build = 'simd'] = process.argv.slice(2);
const dist = process.env.FL_BENCH_DIST;
// The test build: the product's exports and the phases alone, which only tests and benchmarks call.
const file = `kernels.testing${build === 'relaxed' ? '-relaxed' : ''}.wasm`;
const bytes = readFileSync(dist ? join(dist, '..', 'build', file) : new URL(`../build/${file}`, import.meta.url));
const k = (await WebAssembly.instantiate(bytes, {})).instance.exports;
const c = makeCase(name, { small: process.argv.includes('--small') });
const [, C, H, W] = c.shape;
const roundUp8 = (n) => (n + 7) & ~7;
const cp = roundUp8(C);
// The strip height, the patch labels and the row map, as the package has them (its test entry).
const testing = dist ? pathToFileURL(join(dist, '..', 'build', 'testing.js')).href : '../build/testing.js';
const { STRIP_ROWS: STRIP, patchLabels, rowMap } = await import(testing);

const { put, zeros, fill, nceOperands, packed } = arena(k);

/** One run of `run(setup())`, in ms; `setup` (untimed) makes fresh buffers. */
function once(setup, run) {
  const state = setup();
  const t = performance.now();
  run(state);
  return performance.now() - t;
}

/** Best of 5 runs, in ms. */
function best(setup, run) {
  let min = Infinity;
  for (let rep = 0; rep < 5; rep++) min = Math.min(min, once(setup, run));
  return min;
}

/**
 * Best of 5 of a pass and of its GEMMs alone, run alternately (so both see the machine in the same
 * state), in ms.
 */
function bestPair(setup, run, gemms) {
  let pass = Infinity,
    alone = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    pass = Math.min(pass, once(setup, run));
    alone = Math.min(alone, once(setup, gemms));
  }
  return [pass, alone];
}

const rows = [];
/** A pass that took `ms`, whose GEMMs alone take `gemmMs`: the share outside the micro-kernel. */
function report(pass, ms, gemmMs) {
  rows.push({
    pass,
    ms: Number(ms.toFixed(1)),
    gemm_ms: gemmMs ? Number(gemmMs.toFixed(1)) : 0,
    outside: gemmMs ? Number((1 - gemmMs / ms).toFixed(2)) : null,
  });
}

/**
 * The GEMMs of one strip of a pass: S = A·Bᵀ into `strip` (A: `rows` rows at `a`, B: the panels
 * of its `width` columns), then, with a gradient, G·B and Gᵀ·A into `outA` and `outB` (G: the
 * strip, read as the weights; B and A as the groups `gb` and `ga`, of operands of `rowsB` and
 * `rowsA` rows).
 */
function stripGemms(a, rows, panels, width, strip, grad, [ga, rowsA], [gb, rowsB], outA, outB) {
  const stride = k.stripStride(width);
  k.similarityStrip(a, rows, panels, width >> 3, cp, 1, strip, stride);
  if (!grad) return;
  k.accumulateWeighted(strip, rows, width, stride, gb, rowsB, cp, outA);
  k.accumulateWeightedTransposed(strip, rows, width, stride, ga, rowsA, cp, outB);
}

const image = c.features.subarray(0, C * H * W),
  mask = c.mask.subarray(0, H * W);
const base = k.mark();
if (c.loss === 'patch_contrast') {
  const p = c.patchSize,
    n = (H / p) * (W / p);
  const layout = rowMap(patchLabels(mask, H, W, p), 8);
  const pristine = layout.pristine;
  const features = put(image),
    rowOf = put(layout.rowOf);
  const np = k.patchContrastRows(n, pristine);
  const z = k.alloc(np * cp * 4),
    norms = k.alloc(np * 8);
  report(
    'pool',
    best(
      () => 0,
      () => k.patchContrastPool(features, C, H, W, p, rowOf, np, z, norms),
    ),
    0,
  );
  const f0 = roundUp8(pristine),
    P = pristine,
    F = n - pristine;
  const packedZ = packed(z, np, cp);
  const mark = k.mark();
  const cflnet = variant === 'cflnet' ? 1 : 0;
  /** A fresh state with the statistics a pass needs (ones: the values do not change the time). */
  const attach = () => {
    k.resetTo(mark);
    const [cmax, statA, statB, invP] = [0, 1, 2, 3].map(() => zeros(np * 4));
    fill(invP, np, 0.001);
    fill(statB, np, 0.001);
    const dz = zeros(np * cp * 4),
      sums = zeros(np * 16),
      colMax = k.alloc(np * 4),
      colSum = zeros(np * 4);
    fill(colMax, np, -3e38);
    const state = k.patchContrastAttach(z, packedZ, n, C, pristine, cflnet, 0.1, cmax, statA, statB, invP, dz);
    return { state, sums, colMax, colSum, np, strip: k.alloc(STRIP * (np + 8) * 4), g: zeros(np * cp * 4) };
  };
  const row = (i) => z + i * cp * 4,
    panel = (i) => packedZ + i * cp * 4; // the panels start the packed form
  /** The GEMMs of strips of STRIP rows from `from` to `to`, against columns [c0(i0), c1). */
  const strips = (st, from, to, c0, c1, grad) => {
    for (let i0 = from; i0 < to; i0 += STRIP) {
      const rows = Math.min(STRIP, to - i0),
        first = c0(i0);
      const [ga, gb] = [
        [groupRow(packedZ, np, cp, i0), np],
        [groupRow(packedZ, np, cp, first), np],
      ];
      stripGemms(row(i0), rows, panel(first), c1 - first, st.strip, grad, ga, gb, st.g + i0 * cp * 4, st.g);
    }
  };
  const pass = (label, run, gemms) => report(label, ...bestPair(attach, run, gemms));
  if (cflnet)
    pass(
      'columnMax',
      (s) => k.patchContrastColumnMax(s.state, 0, k.patchContrastStrips(np)),
      (s) => strips(s, 0, np, (i0) => i0, np, false),
    );
  const pristineStrips = k.patchContrastPristineStrips(pristine);
  pass(
    'negatives',
    (s) => k.patchContrastNegatives(s.state, 0, pristineStrips, s.colMax, s.colSum),
    (s) => strips(s, 0, f0, () => f0, np, false),
  );
  const classStrips = k.patchContrastClassStrips(n, pristine);
  pass(
    'positives',
    (s) => k.patchContrastPositives(s.state, 0, classStrips, s.sums, s.sums + np * 8, 1 / n, 1),
    (s) => {
      strips(s, 0, f0, (i0) => i0, f0, true);
      strips(s, f0, np, (i0) => i0, np, true);
    },
  );
  pass(
    'negativeGrad',
    (s) => k.patchContrastNegativeGrad(s.state, 0, pristineStrips, 1 / n),
    (s) => strips(s, 0, f0, () => f0, np, true),
  );
  const backward = () => {
    k.resetTo(mark);
    return { dz: zeros(np * cp * 4), grad: k.alloc(C * H * W * 4) };
  };
  report(
    'backward',
    best(backward, (b) => k.patchContrastBackward(z, b.dz, norms, rowOf, np, C, H, W, p, b.grad)),
    0,
  );
  console.error(`${name} ${variant}: P ${P}, F ${F}`);
} else {
  const ops = nceOperands(image, mask, C, H * W);
  const { j, m, jp, mp, u, x } = ops;
  report(
    'gather',
    best(() => 0, ops.gather),
    0,
  );
  const meanExp = variant === 'mean-exp' ? 1 : 0;
  const packedU = packed(u, jp, cp),
    packedX = packed(x, mp, cp);
  const mark = k.mark();
  const attach = () => {
    k.resetTo(mark);
    const l0 = zeros(jp * 4),
      dl0 = zeros(jp * 4),
      lse = zeros(jp * 4),
      lseSum = zeros(jp * 4),
      lseMax = k.alloc(jp * 4),
      perQuery = zeros(jp * 4);
    fill(lseMax, jp, -3e38);
    const du = zeros(jp * cp * 4),
      dx = zeros(mp * cp * 4);
    const state = k.infoNCEAttach(u, packedU, j, packedX, m, C, 0.1, meanExp, l0, dl0, du, dx);
    const g = zeros(Math.max(jp, mp) * cp * 4);
    return { state, lse, lseMax, lseSum, perQuery, l0, strip: k.alloc(STRIP * (Math.max(jp, mp) + 8) * 4), g };
  };
  const strips = k.infoNCEStripCount(j);
  const uRow = (a) => u + a * cp * 4;
  /** The query block's upper half-strips (mean-exp), or each query strip against the negatives. */
  const queryBlock = (s, grad) => {
    for (let a0 = 0; a0 < jp; a0 += STRIP) {
      const rows = Math.min(STRIP, jp - a0);
      const ga = [groupRow(packedU, jp, cp, a0), jp];
      stripGemms(uRow(a0), rows, packedU + a0 * cp * 4, jp - a0, s.strip, grad, ga, ga, s.g, s.g);
    }
  };
  const negativeStrips = (s) => {
    for (let a0 = 0; a0 < jp; a0 += STRIP)
      stripGemms(
        uRow(a0),
        Math.min(STRIP, jp - a0),
        packedX,
        mp,
        s.strip,
        true,
        [groupRow(packedU, jp, cp, a0), jp],
        [groupRow(packedX, mp, cp, 0), mp],
        s.g,
        s.g,
      );
  };
  const pass = (label, run, gemms) => report(label, ...bestPair(attach, run, gemms));
  if (meanExp)
    pass(
      'queryLse',
      (s) => k.infoNCEQueryLse(s.state, 0, strips, s.lseMax, s.lseSum),
      (s) => queryBlock(s, false),
    );
  else
    report(
      'meanLogit',
      best(attach, (s) => k.infoNCEMeanLogit(u, j, C, 0.1, zeros(cp * 4), s.l0, zeros(jp * 4))),
      0,
    );
  pass('negatives', (s) => k.infoNCEStrips(s.state, 0, strips, 1 / j, s.perQuery, 1), negativeStrips);
  if (meanExp)
    pass(
      'queryGrad',
      (s) => k.infoNCEQueryGrad(s.state, 0, strips, s.lse),
      (s) => queryBlock(s, true),
    );
  console.error(`${name} ${variant}: J ${j}, M ${m}`);
}
k.resetTo(base);
for (const row of rows) console.log(JSON.stringify({ case: name, variant, build, ...row }));
