// Where one image's time goes (one thread), pass by pass: each pass of the kernels run through
// the raw exports at a case's sizes (its first image), against its multiply-adds at the measured
// GEMM peak of the same run, so "outside" is the share of a pass that is not micro-kernel work
// (exp, log, σ, the row and column statistics, masks, stores). Also the stages around the passes.
// Best of 5 each. Prints one JSON line per pass. Reads the kernels from $FL_BENCH_DIST when set.
//   node [--experimental-wasm-relaxed-simd] bench/passes.mjs <pc1|nce-full> <variant> <simd|relaxed> <peak GFLOP/s>
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { arena } from '../support/arena.mjs';
import { makeCase } from '../support/cases.mjs';

const [name, variant, build = 'simd', peakArg] = process.argv.slice(2);
const peak = Number(peakArg); // GFLOP/s of the best GEMM phase (bench/phases.mjs), 2 flops per multiply-add
const dist = process.env.FL_BENCH_DIST;
const file = `kernels.${build === 'relaxed' ? 'relaxed' : 'simd'}.wasm`;
const bytes = readFileSync(dist ? join(dist, file) : new URL(`../dist/${file}`, import.meta.url));
const k = (await WebAssembly.instantiate(bytes, {})).instance.exports;
const c = makeCase(name, { small: process.argv.includes('--small') });
const [, C, H, W] = c.shape;
const roundUp8 = (n) => (n + 7) & ~7;
const cp = roundUp8(C);

const { put, zeros, fill } = arena(k);

/** Best of 5 runs of `run(setup())`, in ms; `setup` (untimed) makes fresh buffers. */
function best(setup, run) {
  let min = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const state = setup();
    const t = performance.now();
    run(state);
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

const rows = [];
/** A pass of `macs` multiply-adds that took `ms`: the share outside the micro-kernel at peak. */
function report(pass, ms, macs) {
  const gemm = macs ? (2 * macs) / (peak * 1e6) : 0;
  rows.push({
    pass,
    ms: Number(ms.toFixed(1)),
    gemm_ms: Number(gemm.toFixed(1)),
    outside: macs ? Number((1 - gemm / ms).toFixed(2)) : null,
  });
}

const image = c.features.subarray(0, C * H * W),
  mask = c.mask.subarray(0, H * W);
const base = k.mark();
if (c.loss === 'patch_contrast') {
  const p = c.patchSize,
    n = (H / p) * (W / p);
  const features = put(image),
    maskPtr = put(mask);
  const labels = k.alloc(n),
    rowOf = k.alloc(4 * n),
    z = k.alloc((n + 8) * cp * 4),
    norms = k.alloc((n + 8) * 8);
  let pristine = 0;
  report(
    'pool',
    best(
      () => 0,
      () => (pristine = k.patchContrastPool(features, maskPtr, C, H, W, p, labels, rowOf, z, norms)),
    ),
    0,
  );
  const np = k.patchContrastRows(n, pristine),
    f0 = roundUp8(pristine),
    P = pristine,
    F = n - pristine;
  const panels = k.alloc(np * cp * 4);
  k.packPanels(z, np, cp, panels);
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
    const state = k.patchContrastAttach(z, panels, n, C, pristine, cflnet, 0.1, cmax, statA, statB, invP, dz);
    return { state, sums, colMax, colSum, np };
  };
  if (cflnet)
    report(
      'columnMax',
      best(attach, (s) => k.patchContrastColumnMax(s.state, 0, k.patchContrastStrips(np))),
      (np * np * cp) / 2,
    );
  const pristineStrips = k.patchContrastPristineStrips(pristine);
  report(
    'negatives',
    best(attach, (s) => k.patchContrastNegatives(s.state, 0, pristineStrips, s.colMax, s.colSum)),
    f0 * (np - f0) * cp,
  );
  const classStrips = k.patchContrastClassStrips(n, pristine);
  const blocks = (f0 * f0 + (np - f0) * (np - f0)) / 2;
  report(
    'positives',
    best(attach, (s) => k.patchContrastPositives(s.state, 0, classStrips, s.sums, s.sums + np * 8, 1 / n, 1)),
    3 * blocks * cp,
  );
  report(
    'negativeGrad',
    best(attach, (s) => k.patchContrastNegativeGrad(s.state, 0, pristineStrips, 1 / n)),
    3 * f0 * (np - f0) * cp,
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
  const hw = H * W;
  const queries = Int32Array.from(mask.keys()).filter((i) => mask[i] === 0);
  const negatives = Int32Array.from(mask.keys()).filter((i) => mask[i] === 1);
  const [j, m] = [queries.length, negatives.length];
  const [jp, mp] = [roundUp8(j), roundUp8(m)];
  const features = put(image),
    qPtr = put(queries),
    xPtr = put(negatives);
  const u = k.alloc(jp * cp * 4),
    x = k.alloc(mp * cp * 4),
    normsU = k.alloc(jp * 8),
    normsX = k.alloc(mp * 8);
  report(
    'gather',
    best(
      () => 0,
      () => k.infoNCEGather(features, C, hw, qPtr, j, xPtr, m, u, x, normsU, normsX),
    ),
    0,
  );
  const meanExp = variant === 'mean-exp' ? 1 : 0;
  const panelsU = k.alloc(jp * cp * 4),
    panelsX = k.alloc(mp * cp * 4);
  k.packPanels(u, jp, cp, panelsU);
  k.packPanels(x, mp, cp, panelsX);
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
    const state = k.infoNCEAttach(u, meanExp ? panelsU : 0, j, x, panelsX, m, C, 0.1, meanExp, l0, dl0, du, dx);
    return { state, lse, lseMax, lseSum, perQuery, l0 };
  };
  const strips = k.infoNCEStripCount(j);
  if (meanExp)
    report(
      'queryLse',
      best(attach, (s) => k.infoNCEQueryLse(s.state, 0, strips, s.lseMax, s.lseSum)),
      (jp * jp * cp) / 2,
    );
  else
    report(
      'meanLogit',
      best(attach, (s) => k.infoNCEMeanLogit(u, j, C, 0.1, zeros(cp * 4), s.l0, zeros(jp * 4))),
      0,
    );
  report(
    'negatives',
    best(attach, (s) => k.infoNCEStrips(s.state, 0, strips, 1 / j, s.perQuery, 1)),
    3 * jp * mp * cp,
  );
  if (meanExp)
    report(
      'queryGrad',
      best(attach, (s) => k.infoNCEQueryGrad(s.state, 0, strips, s.lse)),
      (3 * jp * jp * cp) / 2,
    );
  console.error(`${name} ${variant}: J ${j}, M ${m}`);
}
k.resetTo(base);
for (const row of rows) console.log(JSON.stringify({ case: name, variant, build, ...row }));
