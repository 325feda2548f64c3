// Reused call-time copies (src/runtime/copies.ts, one cache per engine): a copy that a finished call does not hand out
// serves the next call's copy of the same length. These tests check that a copy is reused, that
// no array a result holds is ever reused (which would overwrite a caller's gradient), that the
// bits do not change, and that kept copies are let go when idle or on dispose.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { blobMask, gaussian } from './helpers/engine.mjs';

// 16 × 128 × 128 floats: exactly the smallest copy that is kept (1 MiB).
const [C, H, W] = [16, 128, 128];
const CHW = C * H * W;
// Each engine with its own cache, which the test entry lets the tests look into.
const caches = [new testing.CopyCache(), new testing.CopyCache()];
const engines = await Promise.all(
  [1, 2].map((threads, i) => testing.createEngine({ threads, wasmBuild: 'simd' }, { copies: caches[i] })),
);
after(() => Promise.all(engines.map((e) => e.dispose())));

const patchCall = (b, seed, extra = {}) => ({
  features: gaussian(b * CHW, seed),
  mask: blobMask(b, H, W, seed + 1),
  shape: [b, C, H, W],
  patchSize: 4,
  ...extra,
});
const nceCall = (b, seed, extra = {}) => ({
  features: gaussian(b * CHW, seed),
  mask: blobMask(b, H, W, seed + 1),
  shape: [b, C, H, W],
  sample: { maxPerClass: 300, seed: 7 },
  ...extra,
});

for (const [i, engine] of engines.entries()) {
  const threads = engine.info.threads;
  const cache = caches[i];

  test(`${threads} thread(s): copies reused with gradInto, with the same bits`, async () => {
    cache.release();
    const into = new Float32Array(2 * CHW);
    const options = patchCall(2, 1, { gradInto: { features: into } });
    const first = await engine.patchContrast(options);
    const firstGrad = into.slice();
    assert.equal(cache.heldFloats(), 2 * CHW, 'both images’ copies kept');
    const second = await engine.patchContrast(options);
    assert.equal(cache.heldFloats(), 2 * CHW, 'the same two copies again, no more');
    assert.equal(second.loss, first.loss);
    assert.deepEqual(into, firstGrad);
  });

  test(`${threads} thread(s): a gradient handed out is never reused`, async () => {
    cache.release();
    // One image without gradInto: on one thread the image's own array is the result's gradient; on
    // a pool it is shared memory (split into bands, runtime/schedule/bands.ts), copied out, then kept.
    const one = await engine.patchContrast(patchCall(1, 3));
    const oneGrad = one.grad.features.slice();
    assert.ok(one.grad.features.buffer instanceof ArrayBuffer, 'the gradient is never shared memory');
    const shared = threads > 1 ? CHW : 0;
    assert.equal(cache.heldFloats(), shared);
    // A batch: the images' arrays are copied into the result's gradient, then kept.
    const batch = await engine.infoNCE(nceCall(2, 5));
    const batchGrad = batch.grad.features.slice();
    assert.equal(cache.heldFloats(), shared + 2 * CHW);
    const stacked = await engine.infoNCE(nceCall(2, 9, { scope: 'batch' }));
    const stackedGrad = stacked.grad.features.slice();
    // Calls of the same lengths that take every kept copy and write other features into them.
    await engine.patchContrast(patchCall(1, 11));
    await engine.infoNCE(nceCall(2, 13));
    await engine.infoNCE(nceCall(2, 15, { scope: 'batch', grad: false }));
    assert.deepEqual(one.grad.features, oneGrad);
    assert.deepEqual(batch.grad.features, batchGrad);
    assert.deepEqual(stacked.grad.features, stackedGrad);
  });

  test(`${threads} thread(s): a reused copy is still the call's own`, async () => {
    cache.release();
    const reference = await engine.patchContrast(patchCall(2, 17));
    assert.equal(cache.heldFloats(), 2 * CHW);
    const options = patchCall(2, 17);
    const pending = engine.patchContrast(options);
    options.features.fill(0.5); // the caller refills its array at once
    const got = await pending;
    assert.equal(got.loss, reference.loss);
    assert.deepEqual(got.grad.features, reference.grad.features);
  });
}

test("kept copies are let go after a second without calls, and on their engine's dispose only", async () => {
  caches[0].release();
  const cache = new testing.CopyCache();
  const engine = await testing.createEngine({ threads: 1, wasmBuild: 'simd' }, { copies: cache });
  // The images' gradients go into gradInto: their arrays are kept.
  const into = () => ({ gradInto: { features: new Float32Array(2 * CHW) } });
  await engine.patchContrast(patchCall(2, 19, into()));
  await engines[0].patchContrast(patchCall(2, 19, into()));
  assert.equal(cache.heldFloats(), 2 * CHW, 'both images’ arrays kept');
  assert.equal(caches[0].heldFloats(), 2 * CHW);
  await engine.dispose();
  assert.equal(cache.heldFloats(), 0);
  assert.equal(caches[0].heldFloats(), 2 * CHW, "another engine's copies stay");
  await sleep(1300);
  assert.equal(caches[0].heldFloats(), 0);
});
