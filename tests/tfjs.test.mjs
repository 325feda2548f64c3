// forgery-losses/tfjs (dist/tfjs.js): the losses as synchronous TF.js ops (docs/tfjs.md). Their
// value and gradients are the engine's; on the tape they take one forward pass per step, so a
// stochastic forward gets the gradient at the features the tape saw, and BatchNorm statistics move
// once; tfjs-layers' model.fit trains with layersLoss; channels-last equals channels-first; bad
// input is a typed error that leaks no tensor. Mostly on TF.js's cpu backend (inputs read without a
// copy), once on its wasm backend. The two-phase helpers for a page's main thread still work.
// Run: node build.mjs && node --test tests/tfjs.test.mjs
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import * as tflayers from '@tensorflow/tfjs-layers';
import { ceTF, infoNCETF, initTF, patchContrastTF, tf } from '../bench/baselines/tfjs-losses.mjs';
import * as fl from '../dist/tfjs.js';
import { assertClose, assertGradClose } from './helpers/compare.mjs';
import { blobMask, gaussian, pkg, rng, WASM_BUILD } from './helpers/engine.mjs';

await initTF(); // gradients registered (and the wasm backend, used once below)
await tf.setBackend('cpu');

const B = 2,
  C = 4,
  H = 8,
  W = 8;
const shape = [B, C, H, W];
const mask = blobMask(B, H, W, 5);
const features = gaussian(B * C * H * W, 11);
const logits2 = gaussian(B * 2 * H * W, 12, 2);
const maskTensor = () => tf.tensor3d(mask, [B, H, W]);
const toNhwc = (values, [b, c, h, w]) => tf.transpose(tf.tensor4d(values, [b, c, h, w]), [0, 2, 3, 1]);

// Before ready(): an op says what to do.
it('an op used before ready() throws an Error that says to await it', () => {
  assert.throws(() => fl.infoNCE(tf.tensor4d(features, shape), maskTensor()), /await ready\(\)/);
});

// The ops run on an engine of the test's (ready() can also make one: see 'ready()' below).
const engine = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD });
assert.equal(await fl.ready({ engine }), engine);

/** The gradients TF.js's tape gives through `op` at `inputs` (Float32Arrays), and its value. */
function autograd(op, ...inputs) {
  const { value, grads } = tf.tidy(() => {
    const g = tf.grads((...xs) => op(...xs));
    const out = g(inputs);
    return { value: op(...inputs), grads: out };
  });
  const result = { value: value.dataSync()[0], grads: grads.map((t) => t.dataSync().slice()) };
  tf.dispose([value, grads]);
  return result;
}

describe('value and gradients through the tape are the engine’s (and match the losses composed of TF.js ops)', () => {
  it('crossEntropy: index targets with class weights; probabilities', () => {
    const c = 3,
      logits = gaussian(B * c * H * W, 21, 2);
    const target = Int32Array.from({ length: B * H * W }, (_, i) => Math.floor(rng(i + 1)() * c));
    const weight = [0.2, 1, 3];
    const e = engine.crossEntropySync({ logits, target, shape: [B, c, H, W], weight });
    const t = tf.tensor3d(target, [B, H, W], 'int32');
    const got = autograd((x) => fl.crossEntropy(x, t, { weight }), tf.tensor4d(logits, [B, c, H, W]));
    assert.equal(got.value, Math.fround(e.loss));
    assert.deepEqual(got.grads[0], e.grad.logits);
    const ref = ceTF({ logits, target, shape: [B, c, H, W], weight });
    assertClose(got.value, ref.loss, 'loss vs TF.js ops');
    assertGradClose(got.grads[0], ref.grad, 'grad vs TF.js ops');
    const probs = gaussian(B * c * H * W, 22).map(Math.abs);
    const p = engine.crossEntropySync({ logits, targetProbs: probs, shape: [B, c, H, W] });
    const pt = tf.tensor4d(probs, [B, c, H, W]);
    assert.deepEqual(
      autograd((x) => fl.crossEntropy(x, { probs: pt }), tf.tensor4d(logits, [B, c, H, W])).grads[0],
      p.grad.logits,
    );
  });

  it("crossEntropy reduction 'none': the (B, H, W) losses, and the gradient of any weighting of them", () => {
    const target = Int32Array.from(mask);
    const e = engine.crossEntropySync({ logits: logits2, target, shape: [B, 2, H, W], reduction: 'none' });
    const x = tf.tensor4d(logits2, [B, 2, H, W]);
    const per = fl.crossEntropy(x, tf.tensor3d(target, [B, H, W], 'int32'), { reduction: 'none' });
    assert.deepEqual(per.shape, [B, H, W]);
    assert.deepEqual(per.dataSync(), e.loss);
    const dy = gaussian(B * H * W, 23);
    const [g] = tf.grads((l) =>
      tf.sum(tf.mul(fl.crossEntropy(l, target, { reduction: 'none' }), tf.tensor3d(dy, [B, H, W]))),
    )([x]);
    const expected = e.grad.logits.map((v, i) =>
      Math.fround(v * dy[Math.floor(i / (2 * H * W)) * H * W + (i % (H * W))]),
    );
    assert.deepEqual(g.dataSync(), expected);
    tf.dispose([per, g, x]);
  });

  it('patchContrast, exact and cflnet', () => {
    for (const variant of ['exact', 'cflnet']) {
      const e = engine.patchContrastSync({ features, mask, shape, patchSize: 2, variant });
      const got = autograd(
        (x) => fl.patchContrast(x, maskTensor(), { patchSize: 2, variant }),
        tf.tensor4d(features, shape),
      );
      assert.equal(got.value, Math.fround(e.loss));
      assert.deepEqual(got.grads[0], e.grad.features);
      const ref = patchContrastTF({ features, mask, shape, patchSize: 2, variant });
      assertClose(got.value, ref.loss, `${variant} loss vs TF.js ops`);
      assertGradClose(got.grads[0], ref.grad, `${variant} grad vs TF.js ops`);
    }
  });

  it("infoNCE: mean-logit and mean-exp, every pixel and a seeded sample, scope 'batch'", () => {
    for (const positive of ['mean-logit', 'mean-exp'])
      for (const extra of [{}, { sample: { maxPerClass: 12, seed: 3 } }, { scope: 'batch' }]) {
        const e = engine.infoNCESync({ features, mask, shape, positive, ...extra });
        const got = autograd((x) => fl.infoNCE(x, maskTensor(), { positive, ...extra }), tf.tensor4d(features, shape));
        assert.equal(got.value, Math.fround(e.loss));
        assert.deepEqual(got.grads[0], e.grad.features);
        if (extra.scope) continue;
        const drawn = extra.sample && pkg.drawInfoNCESample({ mask, shape, ...extra.sample });
        const ref = infoNCETF({ features, mask, shape, positive, sample: drawn });
        assertClose(got.value, ref.loss, `${positive} loss vs TF.js ops`);
        assertGradClose(got.grads[0], ref.grad, `${positive} grad vs TF.js ops`);
      }
  });

  it('cflObjective: both gradients', () => {
    const alpha = 0.7;
    const e = engine.cflObjectiveSync({ logits: logits2, features, mask, shape, patchSize: 2, alpha });
    const l = tf.tensor4d(logits2, [B, 2, H, W]),
      f = tf.tensor4d(features, shape);
    const got = autograd((a, b) => fl.cflObjective(a, b, maskTensor(), { patchSize: 2, alpha }), l, f);
    assert.equal(got.value, Math.fround(e.loss));
    assert.deepEqual(got.grads[0], e.grad.logits);
    assert.deepEqual(got.grads[1], e.grad.features);
    const ce = ceTF({ logits: logits2, target: Int32Array.from(mask), shape: [B, 2, H, W], weight: [0.0892, 0.9108] });
    const pc = patchContrastTF({ features, mask, shape, patchSize: 2, variant: 'cflnet' });
    assertClose(got.value, ce.loss + alpha * pc.loss, 'loss vs TF.js ops');
  });

  it("TF.js's wasm backend (inputs read with one dataSync) gives the same bits", async () => {
    await tf.setBackend('wasm');
    try {
      const e = engine.infoNCESync({ features, mask, shape, positive: 'mean-exp' });
      const got = autograd((x) => fl.infoNCE(x, maskTensor(), { positive: 'mean-exp' }), tf.tensor4d(features, shape));
      assert.deepEqual(got.grads[0], e.grad.features);
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

describe('one forward pass per step', () => {
  const cin = 3,
    n = B * H * W;
  const input = tf.tensor2d(gaussian(n * cin, 31), [n, cin]);
  // Per-pixel features: a linear map of the input plus fresh noise on every call (a stochastic forward).
  const linear = (w) => tf.transpose(tf.reshape(tf.matMul(input, w), [B, H, W, C]), [0, 3, 1, 2]);
  const noisy = (w) => tf.add(linear(w), tf.randomNormal([B, C, H, W], 0, 0.3));
  const weight = () => tf.variable(tf.tensor2d(gaussian(cin * C, 32, 0.5), [cin, C]));

  const OPS = {
    crossEntropy: (f) => fl.crossEntropy(tf.slice(f, [0, 0, 0, 0], [-1, 2, -1, -1]), Uint8Array.from(mask)),
    patchContrast: (f) => fl.patchContrast(f, maskTensor(), { patchSize: 2 }),
    infoNCE: (f) => fl.infoNCE(f, maskTensor(), { positive: 'mean-exp' }),
    cflObjective: (f) => fl.cflObjective(tf.slice(f, [0, 0, 0, 0], [-1, 2, -1, -1]), f, maskTensor(), { patchSize: 2 }),
  };
  /** ∂L/∂f from the plain API at features f (NCHW values). */
  const featureGrad = {
    crossEntropy: (f) => {
      const sliced = tf.tidy(() => tf.slice(tf.tensor4d(f, shape), [0, 0, 0, 0], [-1, 2, -1, -1]).dataSync());
      const r = engine.crossEntropySync({ logits: sliced, target: Uint8Array.from(mask), shape: [B, 2, H, W] });
      const g = new Float32Array(f.length);
      for (let b = 0; b < B; b++) g.set(r.grad.logits.subarray(b * 2 * H * W, (b + 1) * 2 * H * W), b * C * H * W);
      return { loss: r.loss, grad: g };
    },
    patchContrast: (f) => {
      const r = engine.patchContrastSync({ features: f, mask, shape, patchSize: 2 });
      return { loss: r.loss, grad: r.grad.features };
    },
    infoNCE: (f) => {
      const r = engine.infoNCESync({ features: f, mask, shape, positive: 'mean-exp' });
      return { loss: r.loss, grad: r.grad.features };
    },
    cflObjective: (f) => {
      const l = tf.tidy(() => tf.slice(tf.tensor4d(f, shape), [0, 0, 0, 0], [-1, 2, -1, -1]).dataSync());
      const r = engine.cflObjectiveSync({ logits: l, features: f, mask, shape, patchSize: 2 });
      const g = r.grad.features.slice();
      for (let b = 0; b < B; b++)
        for (let i = 0; i < 2 * H * W; i++) g[b * C * H * W + i] += r.grad.logits[b * 2 * H * W + i];
      return { loss: r.loss, grad: g };
    },
  };

  for (const [name, op] of Object.entries(OPS)) {
    it(`${name}: with fresh noise in the forward, the weight gradient is the one at the features the tape saw`, () => {
      const w = weight();
      let seen;
      const { value, grads } = tf.variableGrads(() => {
        const f = noisy(w);
        seen = f.dataSync().slice();
        return op(f);
      }, [w]);
      const expected = featureGrad[name](seen);
      assertClose(value.dataSync()[0], expected.loss, `${name} value`, 1e-6);
      // The chain rule through the linear map at the seen features: the noise adds nothing.
      const [vjp] = tf.grads((v) => tf.sum(tf.mul(linear(v), tf.tensor4d(expected.grad, shape))))([w]);
      const got = grads[w.name].dataSync(),
        want = vjp.dataSync();
      let err = 0,
        norm = 0;
      for (let i = 0; i < want.length; i++) {
        err += (got[i] - want[i]) ** 2;
        norm += want[i] ** 2;
      }
      assert.ok(Math.sqrt(err / norm) <= 1e-4, `${name}: relative error ${Math.sqrt(err / norm)}`);
      tf.dispose([value, grads, vjp, w]);
    });
  }

  it('optimizer.minimize runs the forward once per step, and leaks no tensor', () => {
    const w = weight();
    const optimizer = tf.train.adam(0.05);
    let calls = 0;
    const step = () =>
      optimizer.minimize(() => {
        calls++;
        return fl.infoNCE(noisy(w), maskTensor());
      });
    step();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) step();
    assert.equal(calls, 5);
    assert.equal(tf.memory().numTensors, tensors, 'tensors leaked by a step');
    tf.dispose([w]);
  });

  it('BatchNormalization in training mode updates its moving statistics once per step', () => {
    const bn = tflayers.layers.batchNormalization({ momentum: 0.5 });
    const w = weight();
    // Channels-last features (tfjs-layers' layout), normalized per channel.
    const nhwc = (v) => tf.reshape(tf.matMul(input, v), [B, H, W, C]);
    const x = tf.tidy(() => nhwc(w));
    bn.build(x.shape);
    const optimizer = tf.train.sgd(0.01);
    const loss = () =>
      fl.patchContrast(bn.apply(nhwc(w), { training: true }), maskTensor(), {
        patchSize: 2,
        dataFormat: 'channelsLast',
      });
    optimizer.minimize(loss);
    // One update from 0: momentum·0 + (1 − momentum)·(the batch mean per channel).
    const mean = tf.tidy(() => tf.mul(tf.mean(x, [0, 1, 2]), 0.5).dataSync());
    assert.deepEqual(
      Array.from(bn.getWeights()[2].dataSync(), (v) => Math.fround(v)),
      Array.from(mean),
      'the moving mean moved exactly once',
    );
    tf.dispose([x, w]);
  });
});

describe('layouts, tfjs-layers, threads', () => {
  it("channelsLast gives channelsFirst's value and (transposed) gradient, for every op", () => {
    const cases = [
      [(x, o) => fl.patchContrast(x, maskTensor(), { patchSize: 2, ...o }), features, shape],
      [(x, o) => fl.infoNCE(x, maskTensor(), { positive: 'mean-exp', ...o }), features, shape],
      [(x, o) => fl.crossEntropy(x, Uint8Array.from(mask), o), logits2, [B, 2, H, W]],
    ];
    for (const [op, values, s] of cases) {
      const first = autograd((x) => op(x), tf.tensor4d(values, s));
      const last = autograd((x) => op(x, { dataFormat: 'channelsLast' }), toNhwc(values, s));
      assert.equal(last.value, first.value);
      const back = tf.tidy(() =>
        tf.transpose(tf.tensor4d(last.grads[0], [s[0], s[2], s[3], s[1]]), [0, 3, 1, 2]).dataSync(),
      );
      assert.deepEqual(back, first.grads[0]);
    }
    const first = autograd(
      (l, f) => fl.cflObjective(l, f, mask),
      tf.tensor4d(logits2, [B, 2, H, W]),
      tf.tensor4d(features, shape),
    );
    const last = autograd(
      (l, f) => fl.cflObjective(l, f, mask, { dataFormat: 'channelsLast' }),
      toNhwc(logits2, [B, 2, H, W]),
      toNhwc(features, shape),
    );
    assert.equal(last.value, first.value);
  });

  it("model.compile({ loss: layersLoss('infoNCE', { temperature: 0.1 }) }) + model.fit lowers a 2-conv model's loss", async () => {
    const [n, size, dim] = [8, 16, 8];
    const r = rng(41);
    const masks = blobMask(n, size, size, 42);
    // Images whose forged pixels carry noise of another strength than the rest.
    const images = Float32Array.from(
      { length: n * size * size * 3 },
      (_, i) => (r() - 0.5) * (masks[Math.floor(i / 3)] ? 1.5 : 0.3),
    );
    const x = tf.tensor4d(images, [n, size, size, 3]);
    // yTrue in yPred's shape (tfjs-layers wants that): the mask broadcast to the feature channels.
    const y = tf.tidy(() => tf.tile(tf.tensor4d(masks, [n, size, size, 1]), [1, 1, 1, dim]));
    tf.util.seedrandom?.('forgery-losses');
    const model = tflayers.sequential({
      layers: [
        tflayers.layers.conv2d({
          inputShape: [size, size, 3],
          filters: 12,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: tflayers.initializers.glorotNormal({ seed: 1 }),
        }),
        tflayers.layers.conv2d({
          filters: dim,
          kernelSize: 3,
          padding: 'same',
          kernelInitializer: tflayers.initializers.glorotNormal({ seed: 2 }),
        }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: fl.layersLoss('infoNCE', { temperature: 0.1 }) });
    const history = await model.fit(x, y, { epochs: 8, batchSize: 4, shuffle: false, verbose: 0 });
    const losses = history.history.loss;
    assert.equal(losses.length, 8);
    assert.ok(losses.every(Number.isFinite), losses.join(', '));
    assert.ok(losses.at(-1) < 0.8 * losses[0], `loss ${losses.map((v) => v.toFixed(3)).join(' → ')}`);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('layersLoss: crossEntropy takes class indices and cflObjective logits then features, in channel 0 of yTrue', () => {
    const yPred = toNhwc(logits2, [B, 2, H, W]);
    const yTrue = tf.tidy(() => tf.tile(tf.tensor4d(mask, [B, H, W, 1]), [1, 1, 1, 2]));
    const ce = fl.layersLoss('crossEntropy')(yTrue, yPred);
    assert.equal(
      ce.dataSync()[0],
      Math.fround(
        engine.crossEntropySync({ logits: logits2, target: Int32Array.from(mask), shape: [B, 2, H, W] }).loss,
      ),
    );
    const both = tf.concat([toNhwc(logits2, [B, 2, H, W]), toNhwc(features, shape)], 3);
    const cfl = fl.layersLoss('cflObjective', { patchSize: 2 })(tf.tile(yTrue, [1, 1, 1, 3]), both);
    const e = engine.cflObjectiveSync({ logits: logits2, features, mask, shape, patchSize: 2 });
    assert.equal(cfl.dataSync()[0], Math.fround(e.loss));
    assert.throws(() => fl.layersLoss('crossEntropy')(tf.mul(yTrue, 0.5), yPred), /yTrue\[.*\] = 0\.5.*class indices/);
    tf.dispose([yPred, yTrue, ce, both, cfl]);
  });

  it('ready(): the same bits on 1 and 2 threads; an engine it made is kept, then replaced and disposed', async () => {
    const f = gaussian(2 * 16 * 32 * 32, 51);
    const m = blobMask(2, 32, 32, 52);
    const run = () =>
      autograd(
        (x) => fl.infoNCE(x, tf.tensor3d(m, [2, 32, 32]), { positive: 'mean-exp' }),
        tf.tensor4d(f, [2, 16, 32, 32]),
      );
    const one = run();
    const two = await fl.ready({ threads: 2, wasmBuild: WASM_BUILD });
    try {
      assert.equal(two.info.syncThreads, 2);
      assert.equal(await fl.ready(), two, 'ready() again: the same engine');
      assert.deepEqual(run(), one);
    } finally {
      await fl.ready({ engine });
    }
    assert.throws(() => two.infoNCESync({ features, mask, shape }), /disposed/, 'the engine ready() made is disposed');
    assert.equal(engine.info.threads, 1, 'an adopted engine is not');
    assert.deepEqual(run(), one);
  });
});

describe('bad input', () => {
  it('typed errors that name the tensor, in its own layout; no tensor leaks; TF.js and the engine go on', () => {
    const bad = features.slice();
    bad[C * H * W + 5] = Number.NaN;
    // Every input made first, so that the count of tensors sees only what the failed ops leave.
    const x = tf.tensor4d(features, shape);
    const m = maskTensor();
    const nan = tf.tensor4d(bad, shape);
    const nanLast = tf.transpose(nan, [0, 2, 3, 1]);
    const [int, rank3, nhwc, m255, floatTarget] = [
      tf.cast(x, 'int32'),
      tf.zeros([C, H, W]),
      tf.transpose(x, [0, 2, 3, 1]),
      tf.mul(m, 255),
      tf.zeros([B, H, W]),
    ];
    const before = tf.memory().numTensors;
    assert.throws(() => fl.infoNCE(nan, m), { name: 'RangeError', message: /^features\[261\] = NaN/ });
    // In NHWC the same value is element ((1·H + 0)·W + 5)·C + 0; on the tape as well.
    assert.throws(() => tf.grads((f) => fl.infoNCE(f, m, { dataFormat: 'channelsLast' }))([nanLast]), {
      name: 'RangeError',
      message: new RegExp(`^features\\[${(H * W + 5) * C}\\] = NaN`),
    });
    assert.throws(() => fl.patchContrast(int, m), {
      name: 'TypeError',
      message: /features must be float32; got int32/,
    });
    assert.throws(() => fl.patchContrast(rank3, m), { name: 'RangeError', message: /rank-4 tensor/ });
    assert.throws(() => fl.infoNCE(nhwc, m), /pass \{ dataFormat: 'channelsLast' \}/);
    assert.throws(() => fl.infoNCE(x, m255), { name: 'RangeError', message: /divide a 0\/255 mask by 255/ });
    assert.throws(() => fl.crossEntropy(x, floatTarget), /class indices as int32 or bool; got float32/);
    assert.throws(() => fl.infoNCE(x, m, { temprature: 0.1 }), { name: 'TypeError', message: /temperature/ });
    assert.throws(() => fl.infoNCE(x, m, { dataFormat: 'nchw' }), { name: 'RangeError', message: /dataFormat/ });
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by failed ops');
    const ok = tf.tidy(() => fl.infoNCE(x, m).dataSync()[0]);
    assert.equal(ok, Math.fround(engine.infoNCESync({ features, mask, shape }).loss));
    tf.dispose([x, m, nan, nanLast, int, rank3, nhwc, m255, floatTarget]);
  });
});

describe("a page's main thread: the two-phase helpers", () => {
  it('mainThreadMinimize lowers the loss with the async engine calls', async () => {
    const cin = 3,
      d = 4,
      n = B * H * W;
    const r = rng(7);
    const input = new Float32Array(n * cin);
    for (let p = 0; p < n; p++)
      for (let k = 0; k < cin; k++) input[p * cin + k] = r() - 0.5 + (k === 0 && mask[p] === 1 ? 0.8 : 0);
    const x = tf.tensor2d(input, [n, cin]);
    const w = tf.variable(tf.tensor2d(gaussian(cin * d, 9, 0.5), [cin, d]));
    const forward = () => tf.transpose(tf.reshape(tf.matMul(x, w), [B, H, W, d]), [0, 3, 1, 2]);
    const optimizer = tf.train.adam(0.05);
    const losses = fl.mainThreadLosses(await pkg.createEngine({ threads: 2, wasmBuild: WASM_BUILD }));
    const values = [];
    for (let step = 0; step < 6; step++)
      values.push((await fl.mainThreadMinimize(optimizer, forward, (f) => losses.infoNCE(f, mask))).value);
    assert.ok(values.at(-1) < values[0], values.join(', '));
    const bound = await losses.infoNCE(tf.tidy(forward), mask);
    assert.equal(
      bound.value,
      engine.infoNCESync({ features: tf.tidy(forward).dataSync(), mask, shape: [B, d, H, W] }).loss,
    );
    bound.dispose();
  });
});
