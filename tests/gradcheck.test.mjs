// Gradients against central finite differences in double precision: the engine's float32
// gradient is compared, coordinate by coordinate, with (L(x + h·e_k) − L(x − h·e_k)) / 2h of the
// float64 reference loss (tests/reference, itself checked against every golden case). For cflnet
// the column maxima are held at their values, as the official code's detached gradient does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blobMask, engine, gaussian, rng } from './helpers/engine.mjs';
import { crossEntropyRef, infoNCERef, patchContrastRef } from './reference/index.mjs';

const H = 1e-5;

/** Central differences of `loss(x)` over every coordinate of x (a Float64Array, restored after). */
function finiteDifferences(x, loss) {
  const g = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const v = x[k];
    x[k] = v + H;
    const up = loss(x);
    x[k] = v - H;
    const down = loss(x);
    x[k] = v;
    g[k] = (up - down) / (2 * H);
  }
  return g;
}

function assertMatches(actual, expected, what) {
  let maxE = 0,
    maxErr = 0;
  for (let k = 0; k < expected.length; k++) {
    maxE = Math.max(maxE, Math.abs(expected[k]));
    maxErr = Math.max(maxErr, Math.abs(actual[k] - expected[k]));
  }
  assert.ok(maxE > 0, `${what}: the gradient is not trivially zero`);
  // float32 kernels against a float64 derivative: 1e-3 of the maximum is the spec's float32 rtol_g.
  assert.ok(maxErr <= 1e-3 * maxE, `${what}: max error ${maxErr.toExponential(2)} vs max |g| ${maxE.toExponential(2)}`);
  return maxErr / maxE;
}

test('crossEntropy: index targets (weights, ignoreIndex, smoothing) and probability targets', async () => {
  const e = await engine();
  const shape = [2, 3, 4, 5],
    [B, C, Hh, W] = shape;
  const logits = gaussian(B * C * Hh * W, 7, 2),
    r = rng(8);
  const target = Int32Array.from({ length: B * Hh * W }, () => (r() < 0.15 ? -100 : Math.floor(r() * C)));
  const probs = Float32Array.from({ length: B * C * Hh * W }, () => r());
  for (const options of [
    { target, weight: [0.3, 1, 1.7], reduction: 'mean' },
    { target, labelSmoothing: 0.2, reduction: 'sum' },
    { target, weight: [2, 1, 0.5], labelSmoothing: 0.1, reduction: 'mean' },
    { targetProbs: probs, weight: [1, 2, 3], reduction: 'mean', labelSmoothing: 0.05 },
  ]) {
    const got = await e.crossEntropy({ logits, shape, ...options });
    const x = Float64Array.from(logits);
    const fd = finiteDifferences(x, (v) => crossEntropyRef({ logits: v, shape, ...options }).loss);
    assertMatches(got.grad.logits, fd, JSON.stringify(Object.keys(options)));
  }
});

test('patchContrast exact: true derivative, through normalization and pooling', async () => {
  const e = await engine();
  for (const [shape, p, t] of [
    [[1, 4, 8, 8], 2, 0.1],
    [[2, 3, 8, 12], 4, 0.5],
    [[1, 5, 6, 6], 1, 0.2],
  ]) {
    const [B, C, Hh, W] = shape;
    const features = gaussian(B * C * Hh * W, 11 + p),
      mask = blobMask(B, Hh, W, 3 + p);
    const got = await e.patchContrast({ features, mask, shape, patchSize: p, temperature: t, variant: 'exact' });
    const fd = finiteDifferences(
      Float64Array.from(features),
      (v) => patchContrastRef({ features: v, mask, shape, patchSize: p, temperature: t, variant: 'exact' }).loss,
    );
    assertMatches(got.grad.features, fd, `exact ${shape} p ${p}`);
  }
});

test('patchContrast cflnet: derivative with the column maxima held constant', async () => {
  const e = await engine();
  const shape = [2, 4, 8, 8],
    [B, C, Hh, W] = shape;
  const features = gaussian(B * C * Hh * W, 21),
    mask = blobMask(B, Hh, W, 22);
  const options = { mask, shape, patchSize: 2, temperature: 0.1, variant: 'cflnet' };
  const got = await e.patchContrast({ features, ...options });
  const frozenColumnMax = patchContrastRef({ features: Float64Array.from(features), ...options }).columnMax;
  const fd = finiteDifferences(
    Float64Array.from(features),
    (v) => patchContrastRef({ features: v, ...options, frozenColumnMax }).loss,
  );
  assertMatches(got.grad.features, fd, 'cflnet');
});

test('infoNCE mean-logit and mean-exp, full dictionary and explicit samples', async () => {
  const e = await engine();
  const shape = [2, 4, 6, 6],
    [B, C, Hh, W] = shape;
  const features = gaussian(B * C * Hh * W, 31),
    mask = blobMask(B, Hh, W, 32);
  mask[7] = 0.5; // a pixel that takes no part
  const pristine = [],
    forged = [];
  for (let b = 0; b < B; b++) {
    const ids = (cls) => Array.from({ length: Hh * W }, (_, k) => k).filter((k) => mask[b * Hh * W + k] === cls);
    pristine.push(ids(0).filter((_, i) => i % 2 === 0));
    forged.push(ids(1).filter((_, i) => i % 3 !== 1));
  }
  for (const positive of ['mean-logit', 'mean-exp']) {
    for (const sample of [undefined, { pristine, forged }]) {
      const options = { mask, shape, temperature: 0.2, positive, sample };
      const got = await e.infoNCE({ features, ...options });
      const fd = finiteDifferences(Float64Array.from(features), (v) => infoNCERef({ features: v, ...options }).loss);
      assertMatches(got.grad.features, fd, `${positive} ${sample ? 'sampled' : 'full'}`);
    }
  }
});
