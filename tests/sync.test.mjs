// The synchronous methods (docs/api.md, "Synchronous calls"): one plan, two drivers. A sync call
// gives the bits of the async call on 1, 2 and 3 threads — with images split into parts and bands
// (the test entry's small parts) — for every loss and option that changes the work; it uses the
// workers where the thread may wait for them; it refuses `signal` and `onProgress` with a
// TypeError; bad input gets the async call's typed error and leaves the engine usable; a sync call
// made while async calls run on the same engine leaves both exact; a worker that dies during a
// sync call fails that call only.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { blobMask, gaussian } from './helpers/engine.mjs';

const PART_WORK = 2 ** 16;
const engines = await Promise.all(
  [1, 2, 3].map((threads) => testing.createEngine({ threads, wasmBuild: 'simd' }, { partWork: PART_WORK })),
);
after(() => Promise.all(engines.map((e) => e.dispose())));

const B = 2,
  C = 12,
  H = 32,
  W = 24;
const shape = [B, C, H, W];
const features = gaussian(B * C * H * W, 3, 0.8);
const mask = blobMask(B, H, W, 4);
const logits = gaussian(B * 2 * H * W, 5, 2);
const target = Int32Array.from({ length: B * H * W }, (_, i) => (i * 7) % 3);

const CALLS = [
  ['patchContrast', { features, mask, shape, patchSize: 2 }],
  ['patchContrast', { features, mask, shape, patchSize: 2, variant: 'cflnet' }],
  ['patchContrast', { features: features.subarray(0, C * H * W), mask: mask.subarray(0, H * W), shape: [1, C, H, W] }],
  ['patchContrast', { features, mask, shape, grad: false }],
  ['infoNCE', { features, mask, shape }],
  ['infoNCE', { features, mask, shape, positive: 'mean-exp' }],
  ['infoNCE', { features, mask, shape, sample: { maxPerClass: 60, seed: 9 }, positive: 'mean-exp' }],
  ['infoNCE', { features, mask, shape, scope: 'batch' }],
  ['infoNCE', { features, mask, shape, grad: false }],
  ['cflObjective', { logits, features, mask, shape, patchSize: 4, alpha: 0.5 }],
  ['crossEntropy', { logits: gaussian(B * 3 * H * W, 6), target, shape: [B, 3, H, W], weight: [0.2, 1, 3] }],
  ['crossEntropy', { logits, target: Uint8Array.from(target, (t) => t % 2), shape: [B, 2, H, W], reduction: 'none' }],
  ['crossEntropy', { logits, targetProbs: gaussian(B * 2 * H * W, 7).map(Math.abs), shape: [B, 2, H, W] }],
];

test('sync = async, bit for bit, on 1, 2 and 3 threads, with images split into parts and bands', async () => {
  const reference = await Promise.all(CALLS.map(([loss, o]) => engines[0][loss](o)));
  for (const engine of engines)
    CALLS.forEach(([loss, o], i) => {
      const got = engine[`${loss}Sync`](o);
      assert.deepEqual(
        got,
        reference[i],
        `${loss}Sync ${JSON.stringify(Object.keys(o))} on ${engine.info.threads} threads`,
      );
    });
});

test('gradInto: a sync call writes the gradient into the caller’s arrays', () => {
  for (const engine of engines) {
    const into = { features: new Float32Array(features.length), logits: new Float32Array(logits.length) };
    const r = engine.cflObjectiveSync({ logits, features, mask, shape, patchSize: 4, gradInto: into });
    assert.equal(r.grad.features, into.features);
    assert.equal(r.grad.logits, into.logits);
    assert.ok(into.features.some((v) => v !== 0));
  }
});

test('a sync call uses the workers (where the thread may wait for them), and says how many', () => {
  const [, two, three] = engines;
  assert.equal(two.info.syncThreads, 2);
  assert.equal(three.info.syncThreads, 3);
  const records = testing.traceTasks(three);
  three.patchContrastSync({ features, mask, shape, patchSize: 2 });
  const workers = new Set(records.map((r) => r.worker));
  assert.ok(records.length > 6, `${records.length} tasks`);
  assert.equal(workers.size, 3, 'every worker ran some of the tasks');
});

test('signal and onProgress are TypeErrors that say why', () => {
  const [, two] = engines;
  for (const key of ['signal', 'onProgress']) {
    const value = key === 'signal' ? new AbortController().signal : () => {};
    assert.throws(() => two.infoNCESync({ features, mask, shape, [key]: value }), {
      name: 'TypeError',
      message: new RegExp(`infoNCESync takes no ${key}: a sync call runs to completion`),
    });
  }
});

test('bad input: the typed errors of the async call, and the engine goes on', async () => {
  const [, two] = engines;
  const bad = features.slice();
  bad[C * H * W + 17] = Number.NaN;
  assert.throws(() => two.patchContrastSync({ features: bad, mask, shape }), {
    name: 'RangeError',
    message: /features\[.+\] = NaN/,
  });
  assert.throws(() => two.infoNCESync({ features, mask: mask.map((v) => v * 255), shape }), { name: 'RangeError' });
  assert.throws(() => two.crossEntropySync({ logits, target: target.map(() => 7), shape: [B, 2, H, W] }), {
    name: 'RangeError',
    message: /target\[0\] = 7/,
  });
  assert.throws(() => two.patchContrastSync({ features, mask, shape, temprature: 0.1 }), {
    name: 'TypeError',
    message: /temprature.*temperature/,
  });
  assert.deepEqual(two.infoNCESync({ features, mask, shape }), await engines[0].infoNCE({ features, mask, shape }));
});

test('a sync call while async calls run on the same engine: both exact', async () => {
  const big = [1, 32, 64, 64];
  const o = { features: gaussian(32 * 64 * 64, 11), mask: blobMask(1, 64, 64, 12), shape: big, patchSize: 2 };
  for (const engine of engines) {
    const expected = await engine.patchContrast(o);
    const syncExpected = engine.infoNCESync({ features, mask, shape, positive: 'mean-exp' });
    // The async calls hold the calling thread's instance between their steps, and the workers.
    const pending = [engine.patchContrast(o), engine.patchContrast({ ...o, variant: 'cflnet' })];
    await new Promise((resolve) => setTimeout(resolve, 5));
    const during = engine.infoNCESync({ features, mask, shape, positive: 'mean-exp' });
    assert.deepEqual(during, syncExpected, `${engine.info.threads} threads: the sync call`);
    const [first] = await Promise.all(pending);
    assert.deepEqual(first, expected, `${engine.info.threads} threads: the async call`);
  }
});

test('a worker that dies during a sync call fails that call; the pool replaces it and goes on', async () => {
  const engine = await testing.createEngine({ threads: 2, wasmBuild: 'simd' }, { partWork: PART_WORK, stallMs: 300 });
  try {
    const o = { features, mask, shape, positive: 'mean-exp' };
    const expected = await engines[0].infoNCE(o);
    testing.crashWorkerOnNextJob(engine);
    assert.throws(() => engine.infoNCESync(o), /a worker died during the call \(it stopped answering/);
    // Its replacement starts in the event loop; until then the other worker (or this thread) serves.
    assert.deepEqual(engine.infoNCESync(o), expected);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(engine.infoNCESync(o), expected);
    assert.deepEqual(await engine.infoNCE(o), expected);
  } finally {
    await engine.dispose();
  }
  assert.throws(() => engine.infoNCESync({ features, mask, shape }), /disposed/);
});

test("threads 'auto' with workers 'eager': the workers run before the first call, sync calls use them", async () => {
  const engine = await testing.createEngine({ threads: 'auto', workers: 'eager', wasmBuild: 'simd' });
  try {
    assert.equal(testing.poolStarted(engine), engine.info.threads > 1);
    assert.equal(engine.info.syncThreads, engine.info.threads);
    const big = { features: gaussian(64 * 96 * 96, 13), mask: blobMask(1, 96, 96, 14), shape: [1, 64, 96, 96] };
    // The reference: one thread, the default parts (the engines above cut finer ones).
    const one = await testing.createEngine({ threads: 1, wasmBuild: 'simd' });
    assert.deepEqual(engine.patchContrastSync(big), await one.patchContrast(big));
    await one.dispose();
  } finally {
    await engine.dispose();
  }
});
