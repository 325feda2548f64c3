// The kernels' row-range stages (docs/design.md §8): however the strips of a pass are grouped into
// calls, the result is the same to the bit, since the strips run in the same order with the same
// arithmetic. Driven through the raw exports of the built module, as src/runtime/jobs.ts does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as testing from '../build/testing.js';
import { mulberry32 } from './fuzz/materialize.mjs';
import { blobMask, gaussian } from './helpers/engine.mjs';

const bytes = readFileSync(new URL('../build/kernels.simd.wasm', import.meta.url));
const k = (await WebAssembly.instantiate(bytes, {})).instance.exports;

const f32 = (ptr, n) => new Float32Array(k.memory.buffer, ptr, n).slice();
function put(array) {
  const ptr = k.alloc(array.byteLength);
  new Uint8Array(k.memory.buffer, ptr, array.byteLength).set(
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
  );
  return ptr;
}

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

function patchContrast({ features, mask, c, h, w, p, variant }, ranges) {
  k.reset();
  const n = (h / p) * (w / p);
  const fPtr = put(features),
    mPtr = put(mask);
  const perPatch = k.alloc(n * 4),
    labels = k.alloc(n);
  const state = k.patchContrastBegin(fPtr, mPtr, c, h, w, p, 0.1, variant, labels, 1);
  if (variant === 1) for (const [s0, s1] of ranges) k.patchContrastColumnMax(state, s0, s1);
  for (const [s0, s1] of ranges) k.patchContrastStats(state, s0, s1, perPatch);
  for (const [s0, s1] of ranges) k.patchContrastGrad(state, s0, s1, 1 / n);
  const loss = k.patchContrastEnd(state, fPtr);
  return { loss, perPatch: f32(perPatch, n), grad: f32(fPtr, features.length) };
}

function infoNCE({ features, mask, c, hw, positive }, ranges) {
  k.reset();
  const q = Int32Array.from(mask.keys()).filter((i) => mask[i] === 0);
  const x = Int32Array.from(mask.keys()).filter((i) => mask[i] === 1);
  const fPtr = put(features),
    qPtr = put(q),
    xPtr = put(x);
  const perQuery = k.alloc(q.length * 4),
    positives = k.alloc(q.length * 4);
  const grad = k.alloc(features.length * 4);
  new Uint8Array(k.memory.buffer, grad, features.length * 4).fill(0);
  const state = k.infoNCEBegin(fPtr, c, hw, qPtr, q.length, xPtr, x.length, 0.1, positive, positives);
  for (const [s0, s1] of ranges) k.infoNCEStrips(state, s0, s1, 1 / q.length, perQuery, positives, 1);
  const loss = k.infoNCEEnd(state, grad);
  return { loss, perQuery: f32(perQuery, q.length), grad: f32(grad, features.length) };
}

test('the module and the planner agree on the strip height', () => {
  assert.equal(k.STRIP_ROWS.value, testing.STRIP_ROWS);
});

test('patchContrast: any grouping of the strips gives the same bits (exact and cflnet)', () => {
  const [c, h, w, p] = [12, 40, 36, 2]; // 360 patches: 12 strips, the last one partial
  const inputs = { features: gaussian(c * h * w, 3), mask: blobMask(1, h, w, 4), c, h, w, p };
  for (const variant of [0, 1]) {
    const strips = k.patchContrastStrips((h / p) * (w / p));
    assert.equal(strips, 12);
    const [whole, ...others] = groupings(strips, variant + 1).map((g) => patchContrast({ ...inputs, variant }, g));
    for (const other of others) assert.deepEqual(other, whole);
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

test('the planner covers every strip once, in order, in steps of bounded work', () => {
  const job = {
    kind: 'patchContrast',
    features: new Float32Array(256 * 224 * 224),
    mask: new Float32Array(224 * 224),
    c: 256,
    h: 224,
    w: 224,
    patchSize: 4,
    variant: 1,
    grad: true,
  };
  const steps = testing.planSteps(job);
  const strips = Math.ceil(3136 / testing.STRIP_ROWS);
  for (const stage of ['columnMax', 'stats', 'grad']) {
    const mine = steps.filter((s) => s.stage === stage);
    assert.equal(mine[0].s0, 0);
    assert.equal(mine.at(-1).s1, strips);
    for (let i = 1; i < mine.length; i++) assert.equal(mine[i].s0, mine[i - 1].s1);
    for (const s of mine) assert.ok(s.work <= testing.STEP_WORK || s.s1 - s.s0 === 1, `${stage} step of ${s.work}`);
  }
  // Stages in the kernel's order: column maxima, statistics, then the gradient.
  assert.deepEqual([...new Set(steps.map((s) => s.stage))], ['columnMax', 'stats', 'grad']);
});
