// Reductions over whole images accumulate in float64: at the benchmark size a float32 kernel
// still matches the float64 reference to about 1e-6 relative (a naive float32 sum gives ~1e-3).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeCase } from '../support/cases.mjs';
import { engine, gaussian, rng } from './helpers/engine.mjs';
import { crossEntropyRef, infoNCERef, patchContrastRef } from './reference/index.mjs';

const rel = (a, b) => Math.abs(a - b) / Math.abs(b);

test('crossEntropy mean at 4×2×224×224 (the ce benchmark case) within 2e-6 of float64', async () => {
  const c = makeCase('ce');
  const options = { logits: c.logits, target: c.target, shape: c.shape, weight: c.weight };
  const got = await (await engine()).crossEntropy(options);
  const want = crossEntropyRef(options).loss;
  const err = rel(got.loss, want);
  console.log(`# ce 4×2×224×224: relative error ${err.toExponential(2)}`);
  assert.ok(err < 2e-6, `relative error ${err}`);
});

test('crossEntropy probability targets (two classes, and five) at 4×C×96×96 within 2e-6 of float64', async () => {
  const e = await engine();
  for (const C of [2, 5]) {
    const shape = [4, C, 96, 96],
      hw = 96 * 96,
      n = 4 * C * hw;
    const r = rng(C),
      probs = new Float32Array(n);
    // Per pixel, random probabilities over the classes that sum to 1.
    for (let b = 0; b < 4; b++) {
      for (let k = 0; k < hw; k++) {
        const raw = Array.from({ length: C }, () => r());
        const total = raw.reduce((a, v) => a + v, 0);
        raw.forEach((v, c) => {
          probs[(b * C + c) * hw + k] = v / total;
        });
      }
    }
    const options = {
      logits: gaussian(n, 40 + C, 3),
      targetProbs: probs,
      shape,
      weight: Array.from({ length: C }, (_, c) => 0.5 + c),
      labelSmoothing: 0.05,
    };
    const got = await e.crossEntropy(options);
    const want = crossEntropyRef(options);
    const err = rel(got.loss, want.loss);
    assert.ok(err < 2e-6, `C = ${C}: relative error ${err}`);
    let worst = 0,
      top = 0;
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(got.grad.logits[i] - want.grad[i]));
      top = Math.max(top, Math.abs(want.grad[i]));
    }
    assert.ok(worst <= 1e-5 * top, `C = ${C}: gradient error ${worst} of max ${top}`);
  }
});

test('patchContrast and infoNCE on 2×16×32×32 within 1e-5 of float64', async () => {
  const c = makeCase('nce-full', { small: true });
  const shape = [2, 16, 32, 32];
  const e = await engine();
  for (const variant of ['exact', 'cflnet']) {
    const options = { features: c.features, mask: c.mask, shape, patchSize: 2, temperature: 0.1, variant };
    const err = rel((await e.patchContrast(options)).loss, patchContrastRef(options).loss);
    assert.ok(err < 1e-5, `${variant}: relative error ${err}`);
  }
  for (const positive of ['mean-logit', 'mean-exp']) {
    const options = { features: c.features, mask: c.mask, shape, temperature: 0.1, positive };
    const err = rel((await e.infoNCE(options)).loss, infoNCERef(options).loss);
    assert.ok(err < 1e-5, `${positive}: relative error ${err}`);
  }
});

// A strip whose width is a multiple of 32 columns gets a padded row stride (assembly/similarity.ts
// stripStride): here 192 pristine and 64 forged pixels (or patches) make every full-width strip of
// both losses, and a quarter of mean-exp's and patchContrast's half-strips, that wide.
test('padded strips: patchContrast and infoNCE on 2×24×16×16 with 64 forged pixels within 1e-5', async () => {
  const shape = [2, 24, 16, 16],
    hw = 256;
  const features = gaussian(2 * 24 * hw, 77);
  const mask = new Float32Array(2 * hw);
  for (let b = 0; b < 2; b++) for (let k = 0; k < 64; k++) mask[b * hw + ((k * 37 + b * 11) % hw)] = 1;
  const e = await engine();
  const check = (name, got, want) => {
    const err = rel(got.loss, want.loss);
    assert.ok(err < 1e-5, `${name}: relative error ${err}`);
    let worst = 0,
      top = 0;
    for (let i = 0; i < want.grad.length; i++) {
      worst = Math.max(worst, Math.abs(got.grad.features[i] - want.grad[i]));
      top = Math.max(top, Math.abs(want.grad[i]));
    }
    assert.ok(worst <= 1e-5 * top, `${name}: gradient error ${worst} of max ${top}`);
  };
  for (const variant of ['exact', 'cflnet']) {
    const options = { features, mask, shape, patchSize: 1, temperature: 0.1, variant };
    check(variant, await e.patchContrast(options), patchContrastRef(options));
  }
  for (const positive of ['mean-logit', 'mean-exp']) {
    const options = { features, mask, shape, temperature: 0.1, positive };
    check(positive, await e.infoNCE(options), infoNCERef(options));
  }
});
