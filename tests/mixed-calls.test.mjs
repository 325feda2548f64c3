// A pool serving every kind of call at once, as an application's does: random losses, variants,
// shapes, with and without a gradient, async calls two at a time and sync calls beside them, all
// split into small parts (the test entry's engines), each compared to the bits of one thread. The
// workers keep operands pinned between the parts of an image, so a mix like this is where one
// call's pinned operands could leak into another's (tests/image-runs.test.mjs has the case that
// once did, and fails without its fix; this mix showed it in 3 of 300 calls).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { mulberry32 } from './fuzz/materialize.mjs';
import { blobMask, gaussian } from './helpers/engine.mjs';

const [one, three] = await Promise.all(
  [1, 3].map((threads) => testing.createEngine({ threads, wasmBuild: 'simd' }, { partWork: 2 ** 13 })),
);
after(() => Promise.all([one.dispose(), three.dispose()]));

/** One random call drawn from `seed`: its loss, its input, and whether it is made sync. */
function draw(seed) {
  const r = mulberry32(seed);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const p = [1, 2, 4][int(0, 2)];
  const shape = [int(1, 3), int(2, 16), p * int(2, 10), p * int(2, 10)];
  const [b, c, h, w] = shape;
  const loss = ['patchContrast', 'infoNCE', 'cflObjective'][int(0, 2)];
  const grad = r() < 0.7;
  const sync = r() < 0.3;
  const features = gaussian(b * c * h * w, seed, 1);
  const mask = blobMask(b, h, w, seed + 7);
  const input =
    loss === 'patchContrast'
      ? { features, mask, shape, grad, patchSize: p, variant: r() < 0.5 ? 'exact' : 'cflnet' }
      : loss === 'infoNCE'
        ? { features, mask, shape, grad, positive: r() < 0.5 ? 'mean-logit' : 'mean-exp' }
        : { features, mask, shape, patchSize: p, logits: gaussian(b * 2 * h * w, seed + 3, 1) };
  if (loss === 'infoNCE' && r() < 0.3) input.sample = { maxPerClass: 20, seed: 3 };
  return { loss, input, sync, what: `seed ${seed}: ${loss}${sync ? 'Sync' : ''} on ${shape.join('×')}` };
}

const call = (engine, { loss, input, sync }) => (sync ? engine[`${loss}Sync`](input) : engine[loss](input));

/** Two calls on the pool at once: a sync one runs while the other, async, is in flight. */
async function together(a, b) {
  if (a.sync && b.sync) return [call(three, a), call(three, b)];
  if (a.sync || b.sync) {
    const [first, second] = a.sync ? [b, a] : [a, b];
    const pending = call(three, first);
    const now = call(three, second);
    return a.sync ? [now, await pending] : [await pending, now];
  }
  return Promise.all([call(three, a), call(three, b)]);
}

test('400 mixed calls on a 3-thread pool, two at a time: the bits of one thread', async () => {
  for (let seed = 1; seed <= 400; seed += 2) {
    const pair = [draw(seed), draw(seed + 1)];
    const got = await together(...pair);
    for (const [i, d] of pair.entries()) {
      const want = await call(one, d);
      assert.deepEqual({ ...got[i], backend: '' }, { ...want, backend: '' }, d.what);
    }
  }
});
