// Both losses' similarity parts name their image run, and a worker keeps the operands of the last
// image it ran pinned for that image's next part (docs/design.md §9). The names must not repeat
// across the two losses: a patchContrast image and an infoNCE image of the same number would have
// the worker take the pinned Z of the one for the U and X of the other, a wrong result without an
// error. This file runs in a process of its own, so the first image of each loss is the first of
// the process, as for an application's first calls.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { blobMask, gaussian } from './helpers/engine.mjs';

const [one, two] = await Promise.all(
  [1, 2].map((threads) => testing.createEngine({ threads, wasmBuild: 'simd' }, { partWork: 2 ** 14 })),
);
after(() => Promise.all([one.dispose(), two.dispose()]));

test('patchContrast and infoNCE calls in turn on one pool: the bits of one thread', async () => {
  const shape = [1, 16, 32, 32];
  for (let i = 0; i < 4; i++) {
    const input = { features: gaussian(16 * 32 * 32, 90 + i, 0.7), mask: blobMask(1, 32, 32, 91 + i), shape };
    // Without a gradient no task of another kind follows the parts: both workers keep Z pinned.
    for (const [loss, options] of [
      ['patchContrast', { patchSize: 2, grad: false }],
      ['infoNCE', { positive: 'mean-exp' }],
      ['patchContrast', { patchSize: 2 }],
    ]) {
      const got = await two[loss]({ ...input, ...options });
      const want = await one[loss]({ ...input, ...options });
      assert.deepEqual(got, { ...want, backend: got.backend }, `${loss}, call ${i + 1}`);
    }
  }
});
