// forgery-losses/tfjs (dist/tfjs.js): the gradients TF.js autograd sees through the adapter are the
// engine's, and they match the losses composed from TF.js ops (bench/baselines/tfjs-losses.mjs) on small
// inputs; the NCHW/dtype errors; a short training run through optimizer.minimize lowers the loss.
// Run: node build.mjs && node --test tests/tfjs.test.mjs
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ceTF, infoNCETF, initTF, patchContrastTF, tf } from '../bench/baselines/tfjs-losses.mjs';
import * as tfl from '../dist/tfjs.js';
import { TOL, assertClose, assertGradClose } from './helpers/compare.mjs';
import { blobMask, engine, gaussian, rng } from './helpers/engine.mjs';

await initTF(); // wasm backend, gradients registered
const fl = tfl.tfjsLosses(engine());

const B = 2,
  C = 4,
  H = 8,
  W = 8;
const shape = [B, C, H, W];
const mask = blobMask(B, H, W, 5);
const features = gaussian(B * C * H * W, 11);
const logits2 = gaussian(B * 2 * H * W, 12, 2);
const maskTensor = () => tf.tensor3d(mask, [B, H, W]);

/** The gradient TF.js autograd computes through a bound loss, as a Float32Array. */
function autogradOf(bound, ...inputs) {
  const grads = tf.grads((...xs) => bound(...xs))(inputs);
  const out = grads.map((g) => g.dataSync().slice());
  tf.dispose(grads);
  return out;
}

describe('gradients through tf.customGrad equal the engine and TF.js ops', () => {
  it('crossEntropy (index targets, class weights)', async () => {
    const c = 3,
      logits = gaussian(B * c * H * W, 21, 2);
    const target = Int32Array.from({ length: B * H * W }, (_, i) => Math.floor(rng(i + 1)() * c));
    const weight = [0.2, 1, 3];
    const e = await (await engine()).crossEntropy({ logits, target, shape: [B, c, H, W], weight });
    const x = tf.tensor4d(logits, [B, c, H, W]);
    const bound = await fl.crossEntropy(x, tf.tensor3d(target, [B, H, W], 'int32'), { weight });
    assert.equal(bound.value, e.loss);
    const [g] = autogradOf(bound, x);
    assert.deepEqual(g, e.grad.logits);
    const ref = ceTF({ logits, target, shape: [B, c, H, W], weight });
    assertClose(bound.value, ref.loss, 'loss vs TF.js ops');
    assertGradClose(g, ref.grad, 'grad vs TF.js ops');
    bound.dispose();
  });

  it('patchContrast, exact and cflnet', async () => {
    for (const variant of ['exact', 'cflnet']) {
      const e = await (await engine()).patchContrast({ features, mask, shape, patchSize: 2, variant });
      const x = tf.tensor4d(features, shape);
      const bound = await fl.patchContrast(x, maskTensor(), { patchSize: 2, variant });
      assert.equal(bound.value, e.loss);
      assert.deepEqual(bound.result.perImageLoss, e.perImageLoss);
      const [g] = autogradOf(bound, x);
      assert.deepEqual(g, e.grad.features);
      const ref = patchContrastTF({ features, mask, shape, patchSize: 2, variant });
      assertClose(bound.value, ref.loss, `${variant} loss vs TF.js ops`);
      assertGradClose(g, ref.grad, `${variant} grad vs TF.js ops`);
      bound.dispose();
    }
  });

  it('infoNCE, mean-logit and mean-exp, all pixels and a seeded sample', async () => {
    for (const positive of ['mean-logit', 'mean-exp']) {
      for (const sample of [undefined, { maxPerClass: 12, seed: 3 }]) {
        const e = await (await engine()).infoNCE({ features, mask, shape, positive, sample });
        const x = tf.tensor4d(features, shape);
        const bound = await fl.infoNCE(x, maskTensor(), { positive, sample });
        assert.equal(bound.value, e.loss);
        const [g] = autogradOf(bound, x);
        assert.deepEqual(g, e.grad.features);
        const drawn = sample && (await import('../dist/index.js')).drawInfoNCESample({ mask, shape, ...sample });
        const ref = infoNCETF({ features, mask, shape, positive, sample: drawn });
        assertClose(bound.value, ref.loss, `${positive} loss vs TF.js ops`);
        assertGradClose(g, ref.grad, `${positive} grad vs TF.js ops`);
        bound.dispose();
      }
    }
  });

  it("infoNCE with scope 'batch': the engine's batch result and gradient", async () => {
    for (const positive of ['mean-logit', 'mean-exp']) {
      const e = await (await engine()).infoNCE({ features, mask, shape, positive, scope: 'batch' });
      const x = tf.tensor4d(features, shape);
      const bound = await fl.infoNCE(x, maskTensor(), { positive, scope: 'batch' });
      assert.equal(bound.value, e.loss);
      assert.deepEqual(bound.result.perImageLoss, e.perImageLoss);
      const [g] = autogradOf(bound, x);
      assert.deepEqual(g, e.grad.features);
      bound.dispose();
    }
  });

  it('cflObjective: both gradients', async () => {
    const weight = [0.0892, 0.9108],
      alpha = 0.7;
    const e = await (await engine()).cflObjective({ logits: logits2, features, mask, shape, patchSize: 2, alpha });
    const l = tf.tensor4d(logits2, [B, 2, H, W]),
      f = tf.tensor4d(features, shape);
    const bound = await fl.cflObjective(l, f, maskTensor(), { patchSize: 2, alpha });
    assert.equal(bound.value, e.loss);
    const [gl, gf] = autogradOf(bound, l, f);
    assert.deepEqual(gl, e.grad.logits);
    assert.deepEqual(gf, e.grad.features);
    const ce = ceTF({ logits: logits2, target: Int32Array.from(mask), shape: [B, 2, H, W], weight });
    const pc = patchContrastTF({ features, mask, shape, patchSize: 2, variant: 'cflnet' });
    assertClose(bound.value, ce.loss + alpha * pc.loss, 'loss vs TF.js ops');
    assertGradClose(gl, ce.grad, 'grad.logits vs TF.js ops');
    assertGradClose(
      gf,
      pc.grad.map((v) => alpha * v),
      'grad.features vs TF.js ops',
    );
    bound.dispose();
  });

  it('composes with other ops: chain rule, loss scaling, sums, tf.variableGrads', async () => {
    const x = tf.tensor4d(features, shape);
    const e = await (await engine()).infoNCE({ features: Float32Array.from(features, (v) => 2 * v), mask, shape });
    const v = tf.variable(x);
    // The loss of 2·v: evaluate at the values the forward gives, then record it on the tape.
    const bound = await fl.infoNCE(tf.mul(2, v), maskTensor());
    const { value, grads } = tf.variableGrads(() => tf.add(tf.mul(3, bound(tf.mul(2, v))), tf.sum(tf.square(v))), [v]);
    const g = grads[v.name].dataSync();
    const expect = e.grad.features.map((gi, i) => 6 * gi + 2 * features[i]);
    assertGradClose(g, expect, 'd(3·L(2v) + |v|²)/dv');
    assertClose(value.dataSync()[0], 3 * e.loss + features.reduce((s, f) => s + f * f, 0), 'value', TOL.rtol);
    bound.dispose();
    tf.dispose([value, grads, v]);
  });
});

describe('inputs', () => {
  const x = () => tf.tensor4d(features, shape);
  it('NHWC features get an error that says to transpose', async () => {
    const nhwc = tf.transpose(x(), [0, 2, 3, 1]);
    await assert.rejects(fl.infoNCE(nhwc, maskTensor()), /looks NHWC.*tf\.transpose\(features, \[0, 3, 1, 2\]\)/);
    await assert.rejects(
      fl.cflObjective(tf.zeros([B, H, W, 2]), nhwc, maskTensor()),
      /logits must have shape \[B, 2, H, W\]/,
    );
  });
  it('dtypes and ranks', async () => {
    await assert.rejects(fl.patchContrast(tf.cast(x(), 'int32'), maskTensor()), /features must be float32; got int32/);
    await assert.rejects(fl.patchContrast(tf.zeros([C, H, W]), maskTensor()), /rank-4 NCHW tensor/);
    await assert.rejects(fl.patchContrast(features, maskTensor()), /must be a tf\.Tensor/);
    await assert.rejects(
      fl.crossEntropy(x(), tf.zeros([B, H, W])),
      /target must hold class indices as int32 or bool; got float32/,
    );
    await assert.rejects(fl.crossEntropy(x(), tf.zeros([B, H, W], 'int32'), { reduction: 'none' }), /reduction 'none'/);
  });
  it('masks: (B, 1, H, W), bool, int32 and typed arrays give the same loss', async () => {
    const ref = (await fl.infoNCE(x(), mask)).value;
    for (const m of [
      tf.tensor4d(mask, [B, 1, H, W]),
      tf.cast(maskTensor(), 'bool'),
      tf.cast(maskTensor(), 'int32'),
      Uint8Array.from(mask),
    ]) {
      const bound = await fl.infoNCE(x(), m);
      assert.equal(bound.value, ref);
      bound.dispose();
    }
    await assert.rejects(fl.infoNCE(x(), tf.mul(maskTensor(), 255)), /mask values must lie in \[0, 1\]/);
  });
  it('a bound loss checks the shapes it is called with, and refuses after dispose', async () => {
    const bound = await fl.patchContrast(x(), maskTensor(), { patchSize: 2 });
    assert.deepEqual(bound.shapes, [shape]);
    assert.throws(() => bound(tf.zeros([B, C, H, 2 * W])), /evaluated for shape \[2, 4, 8, 8\].*got \[2, 4, 8, 16\]/);
    assert.equal(bound.cost.bytesIn, features.byteLength + mask.byteLength);
    assert.equal(bound.cost.bytesOut, features.byteLength);
    bound.dispose();
    assert.throws(() => bound(x()), /disposed/);
  });
});

describe('training', () => {
  it('a few optimizer steps through minimize() lower the loss and leak no tensors', async () => {
    // Per-pixel features from an affine map of the input, where forged pixels differ in channel 0.
    const cin = 3,
      d = 4,
      n = B * H * W;
    const r = rng(7);
    const input = new Float32Array(n * cin);
    for (let p = 0; p < n; p++)
      for (let k = 0; k < cin; k++) input[p * cin + k] = r() - 0.5 + (k === 0 && mask[p] === 1 ? 0.8 : 0);
    const x = tf.tensor2d(input, [n, cin]);
    const w = tf.variable(tf.tensor2d(gaussian(cin * d, 9, 0.5), [cin, d]));
    const bias = tf.variable(tf.tensor1d(gaussian(d, 10, 0.5)));
    const forward = () => tf.transpose(tf.reshape(tf.add(tf.matMul(x, w), bias), [B, H, W, d]), [0, 3, 1, 2]);
    const optimizer = tf.train.adam(0.05);
    const m = maskTensor();
    const losses = [];
    let before = 0;
    for (let step = 0; step < 8; step++) {
      const { value } = await tfl.minimize(optimizer, forward, (features) => fl.infoNCE(features, m));
      losses.push(value);
      if (step === 0) before = tf.memory().numTensors; // Adam's slot variables exist from here on
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by minimize()');
    // The plain pattern too: evaluate, then minimize with the forward run again on the tape.
    const evaluated = tf.tidy(forward);
    const bound = await fl.infoNCE(evaluated, m);
    evaluated.dispose();
    optimizer.minimize(() => bound(forward()));
    bound.dispose();
    const features = tf.tidy(forward);
    const last = await fl.infoNCE(features, m);
    const after = last.value;
    last.dispose();
    features.dispose();
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by the plain pattern');
    assert.ok(after < 0.7 * losses[0], `loss ${losses[0]} -> ${after} (${losses.map((v) => v.toFixed(3)).join(', ')})`);
    for (let i = 1; i < losses.length; i++)
      assert.ok(losses[i] < losses[i - 1] + 1e-6, `loss rose at step ${i}: ${losses.join(', ')}`);
  });
});
