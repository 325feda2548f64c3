// The kernels' row-range stages (docs/design.md §8): however the strips of a pass are grouped into
// calls, the result is the same to the bit, since the strips run in the same order with the same
// arithmetic. Driven through the raw exports of the built module, as the runtime does (src/runtime/wasm/*-tasks.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as testing from '../build/testing.js';
import { arena } from '../support/arena.mjs';
import { mulberry32 } from './fuzz/materialize.mjs';
import { blobMask, gaussian } from './helpers/engine.mjs';

// The test build: the product's exports and the whole-stage ones that only tests call.
const bytes = readFileSync(new URL('../build/kernels.testing.wasm', import.meta.url));
const k = (await WebAssembly.instantiate(bytes, {})).instance.exports;

const { put, zeros, f32, nceOperands, packed } = arena(k);

/** Ranges [s0, s1) covering [0, strips): all at once, one strip per call, or random cuts. */
function groupings(strips, seed) {
  const rand = mulberry32(seed);
  const random = [];
  for (let s0 = 0; s0 < strips; ) {
    const s1 = Math.min(strips, s0 + 1 + Math.floor(rand() * 3));
    random.push([s0, s1]);
    s0 = s1;
  }
  return [[[0, strips]], Array.from({ length: strips }, (_, s) => [s, s + 1]), random];
}

const roundUp8 = (n) => (n + 7) & ~7;

/** One image through the passes, each pass's strips grouped as `group(strips)` says. */
function patchContrast({ features, mask, c, h, w, p, variant }, group) {
  k.reset();
  const n = (h / p) * (w / p),
    cp = roundUp8(c),
    most = roundUp8(n) + 8;
  const fPtr = put(features);
  const layout = testing.rowMap(testing.patchLabels(mask, h, w, p), 8);
  const pristine = layout.pristine,
    np = k.patchContrastRows(n, pristine);
  const rowOf = put(layout.rowOf),
    z = k.alloc(most * cp * 4),
    norms = k.alloc(most * 8);
  k.patchContrastPool(fPtr, c, h, w, p, rowOf, np, z, norms);
  const zPacked = packed(z, np, cp);
  const [cmax, statA, statB, invP] = [0, 1, 2, 3].map(() => zeros(np * 4));
  const dz = zeros(np * cp * 4),
    sums = zeros(np * 16);
  const state = k.patchContrastAttach(z, zPacked, n, c, pristine, variant, 0.1, cmax, statA, statB, invP, dz);
  if (variant === 1) for (const [s0, s1] of group(k.patchContrastStrips(np))) k.patchContrastColumnMax(state, s0, s1);
  const classStrips = k.patchContrastClassStrips(n, pristine);
  const forged = n - pristine,
    f0 = roundUp8(pristine);
  const colMax = k.alloc(np * 4),
    colSum = zeros(np * 4);
  new Float32Array(k.memory.buffer, colMax, np).fill(-3e38);
  for (const [s0, s1] of group(k.patchContrastPristineStrips(pristine)))
    k.patchContrastNegatives(state, s0, s1, colMax, colSum);
  // The forged rows' statistics and every row's 1/|P|, as src/runtime/schedule/patch-image.ts finishes them.
  const a = new Float32Array(k.memory.buffer, statA, np),
    ip = new Float32Array(k.memory.buffer, invP, np);
  const [top, sum] = [colMax, colSum].map((ptr) => new Float32Array(k.memory.buffer, ptr, np));
  for (let f = 0; f < forged; f++) a[f0 + f] = variant === 1 ? sum[f] : top[f] + Math.log(sum[f]);
  ip.fill(1 / (pristine - 1), 0, pristine);
  ip.fill(1 / (forged - 1), f0, f0 + forged);
  for (const [s0, s1] of group(classStrips)) k.patchContrastPositives(state, s0, s1, sums, sums + np * 8, 1 / n, 1);
  // b = bSum/|P| for the negative gradient, as src/runtime/schedule/patch-image.ts does.
  const bSum = new Float64Array(k.memory.buffer, sums + np * 8, np);
  const inv = new Float32Array(k.memory.buffer, invP, np),
    b = new Float32Array(k.memory.buffer, statB, np);
  for (let i = 0; i < np; i++) b[i] = inv[i] === 0 ? 0 : bSum[i] * inv[i];
  for (const [s0, s1] of group(k.patchContrastPristineStrips(pristine)))
    k.patchContrastNegativeGrad(state, s0, s1, 1 / n);
  k.patchContrastBackward(z, dz, norms, rowOf, np, c, h, w, p, fPtr);
  return { lossSum: new Float64Array(k.memory.buffer, sums, np).slice(), grad: f32(fPtr, features.length) };
}

function infoNCE({ features, mask, c, hw, positive }, ranges) {
  k.reset();
  const ops = nceOperands(features, mask, c, hw);
  const { j, m, jp, mp, cp, u, x: xs, normsU, normsX, queries: qPtr, negatives: xPtr } = ops;
  ops.gather();
  const sumU = zeros(cp * 4),
    l0 = zeros(jp * 4),
    positives = zeros(jp * 4),
    dl0 = zeros(jp * 4),
    perQuery = zeros(jp * 4),
    lse = zeros(jp * 4),
    lseSum = zeros(jp * 4),
    lseMax = k.alloc(jp * 4);
  new Float32Array(k.memory.buffer, lseMax, jp).fill(-3e38);
  if (positive === 0) k.infoNCEMeanLogit(u, j, c, 0.1, sumU, l0, positives);
  const packedU = packed(u, jp, cp),
    packedX = packed(xs, mp, cp);
  const du = zeros(jp * cp * 4),
    dx = zeros(mp * cp * 4),
    grad = zeros(features.length * 4);
  const state = k.infoNCEAttach(u, packedU, j, packedX, m, c, 0.1, positive, l0, dl0, du, dx);
  if (positive === 1) {
    for (const [s0, s1] of ranges) k.infoNCEQueryLse(state, s0, s1, lseMax, lseSum);
    // One range set: the merged LSE is max + ln(sum), as src/runtime/schedule/nce-image.ts computes it.
    const [top, sum] = [lseMax, lseSum].map((ptr) => new Float32Array(k.memory.buffer, ptr, jp));
    const [l, l0s] = [lse, l0].map((ptr) => new Float32Array(k.memory.buffer, ptr, jp));
    for (let a = 0; a < j; a++) {
      l[a] = top[a] + Math.log(sum[a]);
      l0s[a] = l[a] - Math.fround(Math.log(j - 1));
    }
  }
  for (const [s0, s1] of ranges) k.infoNCEStrips(state, s0, s1, 1 / j, perQuery, 1);
  if (positive === 1) for (const [s0, s1] of ranges) k.infoNCEQueryGrad(state, s0, s1, lse);
  k.infoNCEBackward(u, du, xs, dx, j, m, c, hw, qPtr, xPtr, normsU, normsX, positive, 0.1, sumU, dl0, grad);
  return { perQuery: f32(perQuery, j), grad: f32(grad, features.length) };
}

test('the module and the planner count the same strips (both read STRIP_ROWS from src/codes.ts)', () => {
  for (const j of [1, 8, 31, 32, 33, 1000])
    assert.equal(k.infoNCEStripCount(j), Math.ceil(((j + 7) & ~7) / testing.STRIP_ROWS));
});

test('packOperand writes the panels, then the groups, and nothing past them', () => {
  for (const [rows8, cp] of [
    [8, 8],
    [40, 24],
    [16, 256],
  ]) {
    k.reset();
    const src = put(Float32Array.from({ length: rows8 * cp }, (_, i) => i + 1));
    const out = k.alloc(2 * rows8 * cp * 4 + 64);
    new Float32Array(k.memory.buffer, out, 2 * rows8 * cp + 16).fill(-7);
    k.packOperand(src, rows8, cp, out);
    const all = f32(out, 2 * rows8 * cp + 16);
    const value = (r, ch) => r * cp + ch + 1;
    for (let r = 0; r < rows8; r++)
      for (let ch = 0; ch < cp; ch++) {
        // Panel of 8 rows: channel by channel, its rows side by side; group of 8 channels: row by row.
        const panel = (r >> 3) * 8 * cp + ch * 8 + (r & 7);
        const group = rows8 * cp + (ch >> 3) * rows8 * 8 + r * 8 + (ch & 7);
        assert.equal(all[panel], value(r, ch), `panel: row ${r}, channel ${ch} (${rows8} × ${cp})`);
        assert.equal(all[group], value(r, ch), `group: row ${r}, channel ${ch} (${rows8} × ${cp})`);
      }
    assert.ok(
      all.subarray(2 * rows8 * cp).every((v) => v === -7),
      `${rows8} × ${cp}: written past the packed forms`,
    );
  }
});

test('patchContrast: any grouping of the strips gives the same bits (exact and cflnet)', () => {
  const [c, h, w, p] = [12, 40, 36, 2]; // 360 patches: several strips per class, partial ones
  const inputs = { features: gaussian(c * h * w, 3), mask: blobMask(1, h, w, 4), c, h, w, p };
  for (const variant of [0, 1]) {
    const cuts = (seed) => (strips) => groupings(strips, seed);
    const results = [0, 1, 2].map((g) =>
      patchContrast({ ...inputs, variant }, (strips) => cuts(variant + 1)(strips)[g]),
    );
    assert.ok(k.patchContrastClassStrips(360, 200) >= 8);
    for (const other of results.slice(1)) assert.deepEqual(other, results[0]);
  }
});

test('infoNCE: any grouping of the strips gives the same bits (mean-logit and mean-exp)', () => {
  const [c, h, w] = [10, 24, 20];
  const mask = blobMask(1, h, w, 6);
  const inputs = { features: gaussian(c * h * w, 5), mask, c, hw: h * w };
  for (const positive of [0, 1]) {
    const strips = k.infoNCEStripCount(mask.filter((v) => v === 0).length);
    assert.ok(strips >= 5, `${strips} strips`);
    const [whole, ...others] = groupings(strips, positive + 7).map((g) => infoNCE({ ...inputs, positive }, g));
    for (const other of others) assert.deepEqual(other, whole);
  }
});

// pc1's sizes: 3,136 patches, 2,200 of them pristine (patch layout: blocks of 2,200 and 936 rows).
const PC1 = {
  kind: 'patchContrast',
  features: new Float32Array(256 * 224 * 224),
  c: 256,
  h: 224,
  w: 224,
  patchSize: 4,
  variant: 1,
  grad: true,
  labels: new Uint8Array(3136),
  pristine: 2200,
  maxParts: testing.MAX_PARTS,
  partWork: testing.PART_WORK,
};

/** Strips of each pass of PC1, from the module's own counts. */
const PC1_STRIPS = {
  columnMax: k.patchContrastStrips(k.patchContrastRows(3136, 2200)),
  negatives: k.patchContrastPristineStrips(2200),
  positives: k.patchContrastClassStrips(3136, 2200),
  negativeGrad: k.patchContrastPristineStrips(2200),
};

test('the planner covers every strip of every pass once, in order, in steps of bounded work', () => {
  const steps = testing.planSteps(PC1);
  for (const [stage, strips] of Object.entries(PC1_STRIPS)) {
    const mine = steps.filter((s) => s.stage === stage);
    assert.equal(mine[0].s0, 0);
    assert.equal(mine.at(-1).s1, strips);
    for (let i = 1; i < mine.length; i++) assert.equal(mine[i].s0, mine[i - 1].s1);
    for (const s of mine) assert.ok(s.work <= testing.STEP_WORK || s.s1 - s.s0 === 1, `${stage} step of ${s.work}`);
  }
  // Passes in the kernel's order.
  assert.deepEqual([...new Set(steps.map((s) => s.stage))], Object.keys(PC1_STRIPS));
  // Without a gradient, no negative-gradient pass; with one class only, none either.
  assert.ok(!testing.planSteps({ ...PC1, grad: false }).some((s) => s.stage === 'negativeGrad'));
  assert.ok(!testing.planSteps({ ...PC1, pristine: 3136 }).some((s) => s.stage === 'negativeGrad'));
});

test('parts: each pass cut into contiguous parts of about equal work, by the sizes alone', () => {
  const passes = testing.planParts(PC1);
  assert.deepEqual(
    passes.map((pass) => pass[0].stage),
    Object.keys(PC1_STRIPS),
  );
  for (const pass of passes) {
    const strips = PC1_STRIPS[pass[0].stage];
    assert.ok(pass.length >= 2 && pass.length <= testing.MAX_PARTS, `${pass[0].stage}: ${pass.length} parts`);
    assert.equal(pass[0].s0, 0);
    assert.equal(pass.at(-1).s1, strips);
    const works = pass.map((part) => part.steps.reduce((sum, s) => sum + s.work, 0));
    for (let i = 0; i < pass.length; i++) {
      if (i > 0) assert.equal(pass[i].s0, pass[i - 1].s1);
      // A part's steps cover exactly its strips.
      assert.equal(pass[i].steps[0].s0, pass[i].s0);
      assert.equal(pass[i].steps.at(-1).s1, pass[i].s1);
    }
    // Balanced: no part (but the last, which takes the remainder) over twice the mean.
    const mean = works.reduce((a, b) => a + b) / works.length;
    for (const work of works.slice(0, -1)) assert.ok(work <= 2 * mean, `${work} vs mean ${mean}`);
  }
  // A small image is one part per pass: it never pays for a split.
  const small = { ...PC1, features: new Float32Array(16 * 32 * 32), labels: new Uint8Array(64), c: 16, h: 32, w: 32 };
  small.pristine = 40;
  for (const pass of testing.planParts(small)) assert.equal(pass.length, 1);
});

test('parts: a batch shares MAX_PARTS out among its images, covering the same strips', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 16, 64].map((b) => testing.partsPerImage(b)),
    [testing.MAX_PARTS, testing.MAX_PARTS / 2, Math.ceil(testing.MAX_PARTS / 3), testing.MAX_PARTS / 4, 1, 1],
  );
  const alone = testing.planParts(PC1);
  const inBatch = testing.planParts({ ...PC1, maxParts: testing.partsPerImage(4) });
  assert.ok(alone.some((pass) => pass.length > 4));
  inBatch.forEach((pass, i) => {
    assert.ok(pass.length >= 1 && pass.length <= 4, `${pass[0].stage}: ${pass.length} parts`);
    assert.equal(pass[0].stage, alone[i][0].stage);
    assert.equal(pass[0].s0, 0);
    assert.equal(pass.at(-1).s1, alone[i].at(-1).s1);
    // Every strip once, in order (the grouping into steps never changes a result, §8).
    const steps = pass.flatMap((part) => part.steps);
    for (let k = 0; k < steps.length; k++) assert.equal(steps[k].s0, k === 0 ? 0 : steps[k - 1].s1);
  });
});

test('patch labels: forged when the mean of the mask over the patch is over 0.5, strictly', () => {
  const [h, w, p] = [12, 16, 4];
  const mask = blobMask(1, h, w, 9);
  mask[0] = 0.5; // a fractional value: the patch is forged only if its mean is over 0.5
  // Patch 1 at exactly half: pristine.
  for (let y = 0; y < p; y++) for (let x = p; x < 2 * p; x++) mask[y * w + x] = x < p + 2 ? 1 : 0;
  const labels = testing.patchLabels(mask, h, w, p);
  const kw = w / p;
  const expected = labels.map((_, n) => {
    let sum = 0;
    for (let y = 0; y < p; y++)
      for (let x = 0; x < p; x++) sum += mask[(Math.floor(n / kw) * p + y) * w + (n % kw) * p + x];
    return sum / (p * p) > 0.5 ? 1 : 0;
  });
  assert.deepEqual(labels, expected);
  assert.equal(labels[1], 0);
  const { rowOf, pristine } = testing.rowMap(labels, 8);
  // Pristine patches from row 0, forged ones from roundUp8(P), each class in patch order.
  let [nextP, nextF] = [0, (pristine + 7) & ~7];
  for (let n = 0; n < labels.length; n++) assert.equal(rowOf[n], labels[n] ? nextF++ : nextP++);
});

test('infoNCE mean-exp: the query block before and after the negatives; mean-logit: the negatives only', () => {
  const job = {
    kind: 'infoNCE',
    features: { length: 256 * 4096 },
    c: 256,
    used: true,
    queries: { length: 2800 },
    negatives: { length: 1296 },
    positive: 1,
    grad: true,
    maxParts: testing.MAX_PARTS,
    partWork: testing.PART_WORK,
  };
  const strips = Math.ceil(2800 / testing.STRIP_ROWS);
  const passes = testing.planParts(job);
  assert.deepEqual(
    passes.map((pass) => pass[0].stage),
    ['queryLse', 'strips', 'queryGrad'],
  );
  for (const pass of passes) {
    assert.equal(pass[0].s0, 0);
    assert.equal(pass.at(-1).s1, strips);
  }
  assert.deepEqual(
    testing.planParts({ ...job, grad: false }).map((pass) => pass[0].stage),
    ['queryLse', 'strips'],
  );
  assert.deepEqual(
    testing.planParts({ ...job, positive: 0 }).map((pass) => pass[0].stage),
    ['strips'],
  );
});
