// Index targets of every type (Int32Array, Uint8Array, Uint16Array): the kernels read each in its
// own type (uint8 masks sixteen at a time when they are checked and counted), so every type must
// give the same numbers, match the float64 reference, and name a bad target wherever it sits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, assertGradClose } from './helpers/compare.mjs';
import { engine, gaussian, rng } from './helpers/engine.mjs';
import { crossEntropyRef } from './reference/index.mjs';

const TYPES = [Int32Array, Uint8Array, Uint16Array];

/**
 * Random targets, mostly class 0 as in a forgery mask (long runs of one class are what could
 * overflow a byte counter), the rest in [1, C), and 5 % ignoreIndex when it is given.
 */
function targets(n, c, seed, ignoreIndex) {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const u = r();
    if (ignoreIndex !== undefined && u < 0.05) return ignoreIndex;
    return u < 0.95 ? 0 : 1 + Math.floor(r() * (c - 1));
  });
}

test('every target type gives the same loss and gradient, matching the float64 reference', async () => {
  const e = await engine();
  // 2 × 64 × 64 takes more than 128 vectors of 16 bytes (the byte counters widen); 37 × 41 leaves
  // remainders after the 16-, 4- and 1-target steps; C = 3 counts by vector passes, C = 9 by
  // histograms.
  for (const [C, H, W] of [
    [2, 64, 64],
    [2, 37, 41],
    [3, 37, 41],
    [9, 37, 41],
  ]) {
    for (const ignoreIndex of [undefined, 0, 1, 255]) {
      const B = 2,
        shape = [B, C, H, W];
      const logits = gaussian(B * C * H * W, C * 1000 + H, 2);
      const t = targets(B * H * W, C, H + (ignoreIndex ?? 7), ignoreIndex);
      const base = { logits, shape, weight: Array.from({ length: C }, (_, c) => 0.3 + 0.7 * c), labelSmoothing: 0.1 };
      if (ignoreIndex !== undefined) base.ignoreIndex = ignoreIndex;
      const want = crossEntropyRef({ ...base, target: t });
      const results = [];
      for (const Type of TYPES) {
        const got = await e.crossEntropy({ ...base, target: Type.from(t) });
        const what = `${Type.name} C=${C} ${H}×${W} ignoreIndex=${ignoreIndex}`;
        assertClose(got.loss, want.loss, `${what} loss`);
        assertGradClose(got.grad.logits, want.grad, `${what} grad`);
        results.push(got);
      }
      for (const got of results.slice(1)) {
        assert.equal(got.loss, results[0].loss);
        assert.deepEqual(got.grad.logits, results[0].grad.logits);
      }
    }
  }
});

test('a bad target is named wherever it sits, for every type', async () => {
  const e = await engine();
  const B = 2,
    C = 2,
    H = 48,
    W = 48,
    n = B * H * W;
  const logits = gaussian(B * C * H * W, 5);
  const t = targets(n, C, 11, 255);
  for (const at of [0, 15, 16, 2047, 2048, 2049, n - 17, n - 1]) {
    for (const Type of TYPES) {
      const bad = Type.from(t);
      bad[at] = 7;
      await assert.rejects(
        e.crossEntropy({ logits, target: bad, shape: [B, C, H, W], ignoreIndex: 255 }),
        (err) => err instanceof RangeError && err.message.startsWith(`target[${at}] = 7:`),
        `${Type.name} at ${at}`,
      );
    }
  }
});

test('uint8 targets of a model with more than 255 classes are all valid', async () => {
  const e = await engine();
  const B = 1,
    C = 300,
    H = 6,
    W = 6;
  const t = Uint8Array.from({ length: H * W }, (_, i) => (i * 37) % 256);
  const options = { logits: gaussian(B * C * H * W, 3), target: t, shape: [B, C, H, W], ignoreIndex: -100 };
  const got = await e.crossEntropy(options);
  assertClose(got.loss, crossEntropyRef({ ...options, target: Array.from(t) }).loss, 'loss');
});

test('int32 targets checked as saturated bytes: values beyond a byte are still named, ignoreIndex still counts', async () => {
  const e = await engine();
  const B = 2,
    C = 2,
    H = 24,
    W = 24,
    n = B * H * W;
  const logits = gaussian(B * C * H * W, 9);
  // The kernel narrows int32 to bytes with saturation (to −128 or 127) when ignoreIndex lies in
  // [−127, 126] (127 and −128 take the int32 path); each value below saturates, wraps, or sits at a
  // limit, and none is a class or ignoreIndex.
  for (const ignoreIndex of [-100, -127, 126, 127, -128]) {
    const t = targets(n, C, 21, ignoreIndex);
    const options = { logits, shape: [B, C, H, W], ignoreIndex, weight: [0.2, 0.9] };
    const want = crossEntropyRef({ ...options, target: t });
    const got = await e.crossEntropy({ ...options, target: Int32Array.from(t) });
    assertClose(got.loss, want.loss, `ignoreIndex ${ignoreIndex} loss`);
    assertGradClose(got.grad.logits, want.grad, `ignoreIndex ${ignoreIndex} grad`);
    const values = [
      127,
      128,
      256,
      257,
      383,
      32767,
      65536,
      2 ** 31 - 1,
      -128,
      -129,
      -32769,
      -(2 ** 31),
      ignoreIndex + 1,
    ];
    for (const value of values.filter((v) => v !== ignoreIndex)) {
      const at = 37;
      const bad = Int32Array.from(t);
      bad[at] = value;
      await assert.rejects(
        e.crossEntropy({ ...options, target: bad }),
        (err) => err instanceof RangeError && err.message.startsWith(`target[${at}] = ${value}:`),
        `ignoreIndex ${ignoreIndex}, target ${value}`,
      );
    }
  }
  // C = 127 is checked as bytes, C = 128 is not: a target of 127 is bad in one, a class in the
  // other, and 200 (127 once saturated) is bad in both.
  for (const c of [127, 128]) {
    const at = 40;
    const t = Int32Array.from({ length: 64 }, (_, i) => (i === at ? 127 : i % 5));
    const options = { logits: gaussian(c * 64, 4), target: t, shape: [1, c, 8, 8] };
    if (c === 127) await assert.rejects(e.crossEntropy(options), /^RangeError: target\[40\] = 127:/);
    else
      assertClose(
        (await e.crossEntropy(options)).loss,
        crossEntropyRef({ ...options, target: Array.from(t) }).loss,
        'C = 128',
      );
    t[at] = 200;
    await assert.rejects(e.crossEntropy(options), /^RangeError: target\[40\] = 200:/, `C = ${c}`);
  }
});
