// patchContrast pools its images when the call is made (src/runtime/wasm/pool-at-call.ts), unless
// the engine may route the call to WebGPU: then it copies the features and pools them in a task.
// Both ways give the same bits, sync and async, on one thread and on a pool, and refuse a
// non-finite feature with the same error; a call that pools takes no copy of its features.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { blobMask, gaussian } from './helpers/engine.mjs';

const engines = await Promise.all(
  [1, 2].flatMap((threads) =>
    [true, false].map((poolAtCall) => testing.createEngine({ threads, wasmBuild: 'simd' }, { poolAtCall })),
  ),
);
after(() => Promise.all(engines.map((e) => e.dispose())));

const call = (shape, seed, extra = {}) => {
  const [b, c, h, w] = shape;
  return { features: gaussian(b * c * h * w, seed), mask: blobMask(b, h, w, seed + 1), shape, patchSize: 4, ...extra };
};

const CALLS = [
  ['patchContrast', call([1, 24, 64, 64], 1)],
  ['patchContrast', call([3, 16, 32, 48], 3, { variant: 'cflnet' })],
  ['patchContrast', call([2, 16, 32, 32], 5, { grad: false })],
  ['cflObjective', { ...call([2, 8, 32, 32], 7), logits: gaussian(2 * 2 * 32 * 32, 8) }],
];

test('pooled at call time or in a task: the same bits, sync and async, on 1 and 2 threads', async () => {
  for (const [fn, options] of CALLS) {
    const reference = await engines[1][fn](options);
    for (const e of engines) {
      const got = await e[fn](options);
      assert.deepEqual({ ...got, backend: reference.backend }, reference, `${fn} async, ${e.info.threads} thread(s)`);
      const sync = e[`${fn}Sync`](options);
      assert.deepEqual({ ...sync, backend: reference.backend }, reference, `${fn} sync, ${e.info.threads} thread(s)`);
    }
  }
});

test('a non-finite feature: the same error either way, naming the first, and the engine goes on', async () => {
  // Pooling at call time finds them through the norms of Z, then scans the image for the first.
  const options = call([3, 8, 16, 16], 11);
  const last = options.features.length - 1;
  const image2 = 2 * 8 * 256 + 5 * 256 + 17; // image 2, channel 5
  const cases = [
    [[image2, Number.NaN]],
    [[last, Number.POSITIVE_INFINITY]],
    // Two in one patch of image 1 whose sum is NaN, and a later one in image 2.
    [
      [8 * 256 + 3 * 256 + 16 + 1, Number.NEGATIVE_INFINITY],
      [8 * 256 + 3 * 256 + 1, Number.POSITIVE_INFINITY],
      [image2, Number.NaN],
    ],
  ];
  for (const bad of cases) {
    const saved = bad.map(([at]) => options.features[at]);
    for (const [at, value] of bad) options.features[at] = value;
    const first = Math.min(...bad.map(([at]) => at));
    const message = `features[${first}] = ${options.features[first]}: values must be finite`;
    for (const e of engines) {
      await assert.rejects(e.patchContrast(options), { name: 'RangeError', message });
      assert.throws(() => e.patchContrastSync(options), { name: 'RangeError', message });
    }
    bad.forEach(([at], i) => {
      options.features[at] = saved[i];
    });
  }
  const reference = await engines[0].patchContrast(options);
  for (const e of engines) assert.deepEqual((await e.patchContrast(options)).loss, reference.loss);
});

test('a call that pools takes no copy of its features', async () => {
  // One image of 16 × 128 × 128 floats (the smallest copy kept) without a gradient: a copy of its
  // features would be kept for the next call; Z (1,024 × 16 floats) is too small to keep.
  const options = call([1, 16, 128, 128], 13, { grad: false });
  for (const [poolAtCall, kept] of [
    [true, 0],
    [false, 16 * 128 * 128],
  ]) {
    const copies = new testing.CopyCache();
    const e = await testing.createEngine({ threads: 1, wasmBuild: 'simd' }, { poolAtCall, copies });
    await e.patchContrast(options);
    assert.equal(copies.heldFloats(), kept, poolAtCall ? 'pooled at call' : 'copied');
    await e.dispose();
  }
});
