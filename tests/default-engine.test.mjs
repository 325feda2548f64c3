// Threads by default (runtime/executors/lazy-pool.ts): the top-level functions run on an engine with
// threads 'auto', whose workers start only with a call whose work pays for them. Import plus a
// small call starts none; a large call starts them; the bits are those of one thread either way.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { blobMask, gaussian } from './helpers/engine.mjs';

const one = await testing.createEngine({ threads: 1, wasmBuild: 'simd' });
after(() => one.dispose());

function call(shape, seed) {
  const [b, c, h, w] = shape;
  return { features: gaussian(b * c * h * w, seed), mask: blobMask(b, h, w, seed + 1), shape, patchSize: 2 };
}

/** The work units of a patchContrast call (src/runtime/schedule/jobs.ts), as the executor sees it. */
function work({ shape: [b, c, h, w], mask }) {
  let total = 0;
  for (let img = 0; img < b; img++) {
    const labels = testing.patchLabels(mask.subarray(img * h * w, (img + 1) * h * w), h, w, 2);
    const { pristine } = testing.rowMap(labels, 8);
    const job = { kind: 'patchContrast', features: { length: c * h * w }, labels, pristine, c, h, w, patchSize: 2 };
    const plan = { ...job, variant: 0, grad: true, maxParts: testing.partsPerImage(b), partWork: testing.PART_WORK };
    total += testing.planSteps(plan).reduce((sum, s) => sum + s.work, c * h * w);
  }
  return total;
}

test('import and a small call start no worker; a call that pays for them does, with the same bits', async () => {
  assert.deepEqual(await testing.defaultEngineState(), { exists: false, poolStarted: false });
  const small = call([2, 8, 16, 16], 1);
  assert.ok(work(small) < testing.START_WORK);
  const first = await testing.patchContrast(small);
  assert.deepEqual(await testing.defaultEngineState(), { exists: true, poolStarted: false });
  assert.deepEqual(first.grad, (await one.patchContrast(small)).grad);

  const large = call([1, 64, 128, 128], 3);
  assert.ok(work(large) >= testing.START_WORK, `${work(large)} units`);
  const got = await testing.patchContrast(large);
  const state = await testing.defaultEngineState();
  assert.equal(state.poolStarted, availableParallelism() > 1);
  const expected = await one.patchContrast(large);
  assert.equal(got.loss, expected.loss);
  assert.deepEqual(got.grad, expected.grad);
  // Once started, the pool serves calls from POOL_WORK units on; the bits never change.
  assert.deepEqual((await testing.patchContrast(small)).grad, first.grad);
});

test("an engine with threads 'auto' reports its thread count and starts its workers lazily", async () => {
  const engine = await testing.createEngine({ threads: 'auto', wasmBuild: 'simd' });
  try {
    assert.equal(engine.info.threads, Math.min(8, availableParallelism()));
    assert.equal(testing.poolStarted(engine), false);
    await engine.patchContrast(call([1, 8, 16, 16], 5));
    assert.equal(testing.poolStarted(engine), false);
    await engine.patchContrast(call([1, 64, 128, 128], 3));
    assert.equal(testing.poolStarted(engine), availableParallelism() > 1);
  } finally {
    await engine.dispose();
  }
});
