// infoNCE scope 'batch' (docs/spec.md, InfoNCE, "Scope"): by definition scope 'image' on the
// virtual image (1, C, B·H, W) that stacks the batch vertically. The oracle builds that image
// here, independently of the package, and runs the float64 reference on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32, seededSample } from './fuzz/materialize.mjs';
import { assertClose, assertExact, assertGradClose } from './helpers/compare.mjs';
import { engine, gaussian, pkg, WASM_BUILD } from './helpers/engine.mjs';
import { infoNCERef } from './reference/index.mjs';

function stack(features, B, C, HW) {
  const out = new Float64Array(features.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++) for (let k = 0; k < HW; k++) out[(c * B + b) * HW + k] = features[(b * C + c) * HW + k];
  return out;
}

function unstack(stacked, B, C, HW) {
  const out = new Float64Array(stacked.length);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++) for (let k = 0; k < HW; k++) out[(b * C + c) * HW + k] = stacked[(c * B + b) * HW + k];
  return out;
}

/** A random case: shape, a mask of 0, 1 and sometimes 0.5, and one of the three sample modes. */
function randomCase(seed) {
  const r = mulberry32(seed);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const [B, C, H, W] = [int(1, 4), int(1, 9), int(1, 7), int(1, 7)];
  const HW = H * W;
  const forgedShare = r();
  const mask = Float32Array.from({ length: B * HW }, () => {
    const u = r();
    return u < 0.06 ? 0.5 : u < 0.06 + 0.94 * forgedShare ? 1 : 0;
  });
  // Sometimes one image is all pristine or all forged: it only adds to one side of the dictionary.
  if (B > 1 && r() < 0.3) mask.fill(r() < 0.5 ? 0 : 1, 0, HW);
  const features = gaussian(B * C * HW, seed + 1, 0.5 + 2 * r());
  const mode = ['full', 'seeded', 'explicit'][seed % 3];
  const sample =
    mode === 'full'
      ? undefined
      : mode === 'seeded'
        ? { maxPerClass: int(1, Math.max(1, Math.ceil((B * HW) / 2))), seed: int(0, 1000) }
        : explicitLists(mask, B, HW, r);
  return { B, C, H, W, HW, mask, features, sample, temperature: 0.05 + r() * 0.5 };
}

function explicitLists(mask, B, HW, r) {
  const pristine = [],
    forged = [];
  for (let b = 0; b < B; b++) {
    for (const [cls, into] of [
      [0, pristine],
      [1, forged],
    ]) {
      const all = [];
      for (let k = 0; k < HW; k++) if (mask[b * HW + k] === cls && r() < 0.7) all.push(k);
      // Unordered lists: the stacked lists keep each image's order.
      for (let i = all.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [all[i], all[j]] = [all[j], all[i]];
      }
      into.push(all);
    }
  }
  return { pristine, forged };
}

/** The virtual image's explicit lists, built from the definition. */
function stackedLists(k, sample) {
  const { B, HW, mask } = k;
  if (sample === undefined) return undefined;
  if ('maxPerClass' in sample) return seededSample(mask, 1, B * HW, sample.maxPerClass, sample.seed);
  const offset = (lists) => [lists.flatMap((list, b) => list.map((i) => i + b * HW))];
  return { pristine: offset(sample.pristine), forged: offset(sample.forged) };
}

function checkBatch(k, r, positive) {
  const { B, C, H, W, HW } = k;
  const sample = stackedLists(k, k.sample);
  const ref = infoNCERef({
    features: stack(k.features, B, C, HW),
    mask: k.mask,
    shape: [1, C, B * H, W],
    temperature: k.temperature,
    positive,
    sample,
  });
  assertClose(r.loss, ref.loss, 'loss');
  assertGradClose(r.grad.features, unstack(ref.grad, B, C, HW), 'grad.features');
  // Per image: its own queries and negatives, and the mean of its own queries' losses.
  const queries = sample?.pristine[0] ?? [...k.mask.keys()].filter((i) => k.mask[i] === 0);
  const negatives = sample?.forged[0] ?? [...k.mask.keys()].filter((i) => k.mask[i] === 1);
  const used = ref.usedImages[0];
  for (let b = 0; b < B; b++) {
    const mine = (i) => Math.floor(i / HW) === b;
    const own = queries.map((q, i) => [q, i]).filter(([q]) => mine(q));
    const m = negatives.filter(mine).length;
    assertExact(r.queryCounts[b], [own.length, m], `queryCounts[${b}]`);
    assert.equal(r.usedImages[b], used && own.length + m > 0, `usedImages[${b}]`);
    if (!used || own.length === 0) {
      assert.equal(r.perImageLoss[b], null, `perImageLoss[${b}]`);
      continue;
    }
    const losses = own.map(([, i]) => ref.perQueryLoss[0][i]);
    assertClose(r.perImageLoss[b], losses.reduce((s, v) => s + v, 0) / losses.length, `perImageLoss[${b}]`);
    losses.forEach((v, i) => {
      assertClose(r.perQueryLoss[b][i], v, `perQueryLoss[${b}][${i}]`);
    });
  }
  assert.equal(r.numUsedImages, r.usedImages.filter(Boolean).length);
}

test("scope 'batch' equals scope 'image' on the stacked image: random shapes, masks, samples, both positives", async () => {
  const e = await engine();
  for (let seed = 1; seed <= 60; seed++) {
    const k = randomCase(seed);
    for (const positive of ['mean-logit', 'mean-exp']) {
      const r = await e.infoNCE({
        features: k.features,
        mask: k.mask,
        shape: [k.B, k.C, k.H, k.W],
        temperature: k.temperature,
        positive,
        sample: k.sample,
        scope: 'batch',
      });
      try {
        checkBatch(k, r, positive);
      } catch (error) {
        error.message = `case ${seed} (${positive}, B ${k.B}): ${error.message}`;
        throw error;
      }
    }
  }
});

test("B = 1: scope 'batch' is bit-identical to scope 'image'", async () => {
  const e = await engine();
  for (let seed = 100; seed < 106; seed++) {
    const k = randomCase(seed);
    const one = {
      features: k.features.subarray(0, k.C * k.HW),
      mask: k.mask.subarray(0, k.HW),
      shape: [1, k.C, k.H, k.W],
    };
    const sample =
      k.sample && 'pristine' in k.sample
        ? { pristine: [k.sample.pristine[0]], forged: [k.sample.forged[0]] }
        : k.sample;
    for (const positive of ['mean-logit', 'mean-exp']) {
      const image = await e.infoNCE({ ...one, sample, positive });
      const batch = await e.infoNCE({ ...one, sample, positive, scope: 'batch' });
      assert.equal(batch.loss, image.loss);
      assert.deepEqual(batch.perImageLoss, image.perImageLoss);
      assert.deepEqual(batch.queryCounts, image.queryCounts);
      assert.deepEqual(batch.usedImages, image.usedImages);
      assert.deepEqual(batch.grad.features, image.grad.features);
    }
  }
});

test("scope 'batch' is bit-identical on 1, 2 and 3 threads", async () => {
  const k = randomCase(7);
  const options = { features: k.features, mask: k.mask, shape: [k.B, k.C, k.H, k.W], scope: 'batch' };
  const results = [];
  for (const threads of [1, 2, 3]) {
    const e = await pkg.createEngine({ threads, wasmBuild: WASM_BUILD });
    try {
      results.push(await e.infoNCE({ ...options, positive: 'mean-exp' }));
    } finally {
      await e.dispose();
    }
  }
  for (const r of results.slice(1)) {
    assert.equal(r.loss, results[0].loss);
    assert.deepEqual(r.grad.features, results[0].grad.features);
  }
});

test("drawInfoNCESample with scope 'batch' gives the stacked draw the call uses", async () => {
  const k = randomCase(2);
  const drawn = pkg.drawInfoNCESample({
    mask: k.mask,
    shape: [k.B, k.C, k.H, k.W],
    scope: 'batch',
    maxPerClass: 5,
    seed: 3,
  });
  const expected = seededSample(k.mask, 1, k.B * k.HW, 5, 3);
  assert.deepEqual([...drawn.pristine[0]], expected.pristine[0]);
  assert.deepEqual([...drawn.forged[0]], expected.forged[0]);
});

test("scope: an unknown value is a RangeError; a non-finite feature is named in the caller's layout", async () => {
  const e = await engine();
  const [B, C, H, W] = [2, 3, 2, 2];
  const features = gaussian(B * C * H * W, 5);
  const mask = Float32Array.from({ length: B * H * W }, (_, i) => i % 2);
  await assert.rejects(e.infoNCE({ features, mask, shape: [B, C, H, W], scope: 'all' }), {
    name: 'RangeError',
    message: /scope must be one of 'image', 'batch'/,
  });
  const bad = features.slice();
  bad[1 * C * H * W + 2 * H * W + 3] = Number.NaN; // image 1, channel 2, pixel 3
  await assert.rejects(e.infoNCE({ features: bad, mask, shape: [B, C, H, W], scope: 'batch' }), {
    name: 'RangeError',
    message: new RegExp(`^features\\[${1 * C * H * W + 2 * H * W + 3}\\] = NaN`),
  });
  // The engine keeps working.
  assert.ok(Number.isFinite((await e.infoNCE({ features, mask, shape: [B, C, H, W], scope: 'batch' })).loss));
});

test('the batch dictionary of the nce-full size (4×256×64×64) runs in bounded memory: no N × N matrix', async () => {
  const [B, C, H, W] = [4, 256, 64, 64];
  const features = gaussian(B * C * H * W, 11);
  const mask = new Float32Array(B * H * W);
  for (let i = 0; i < mask.length; i++) mask[i] = (i >> 6) % 4 === 0 ? 1 : 0; // a quarter forged
  // 16,384 stacked pixels: an N × N float32 matrix alone would take 1 GiB.
  const limit = 192 * 2 ** 20;
  const e = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD, maxMemoryBytes: limit });
  try {
    const r = await e.infoNCE({ features, mask, shape: [B, C, H, W], scope: 'batch' });
    assert.ok(Number.isFinite(r.loss));
    assert.deepEqual(r.queryCounts, Array(B).fill([3072, 1024]));
    assert.ok(e.memoryBytes() <= limit, `wasm memory ${e.memoryBytes()} bytes`);
  } finally {
    await e.dispose();
  }
});
