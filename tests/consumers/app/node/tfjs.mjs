// Node, forgery-losses/tfjs with TF.js 4.22 (tfjs-core, tfjs-backend-cpu, tfjs-layers): after
// `await ready()` each op gives a tensor synchronously; with a stochastic forward (a linear map
// plus fresh noise) the weight gradient is the one the plain API gives at the features the tape
// saw; channels-last equals channels-first; an optimizer.minimize loop and model.fit with
// layersLoss lower the loss. Prints one JSON line: { failures, checks, losses }.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createEngine } from 'forgery-losses';
import { cflObjective, crossEntropy, infoNCE, layersLoss, patchContrast, ready } from 'forgery-losses/tfjs';

await tf.setBackend('cpu');
const failures = [];
const checks = [];
const check = async (name, fn) => {
  try {
    await fn();
    checks.push(name);
  } catch (error) {
    failures.push(`${name}: ${error?.stack ?? error}`);
  }
};
const assert = (ok, what) => {
  if (!ok) throw new Error(what);
};

const [B, C, H, W, CIN] = [2, 8, 16, 16, 3];
const mask = Float32Array.from({ length: B * H * W }, (_, i) => (i % W > 9 && Math.floor(i / W) % H > 5 ? 1 : 0));
const masks = tf.tensor3d(mask, [B, H, W]);
const input = tf.randomNormal([B * H * W, CIN], 0, 1, 'float32', 1);
const linear = (w) => tf.transpose(tf.reshape(tf.matMul(input, w), [B, H, W, C]), [0, 3, 1, 2]);
const engine = await ready();

await check('each op returns a tensor synchronously', () => {
  const f = tf.randomNormal([B, C, H, W], 0, 1, 'float32', 2);
  const logits = tf.randomNormal([B, 2, H, W], 0, 1, 'float32', 3);
  for (const t of [
    crossEntropy(logits, Uint8Array.from(mask)),
    patchContrast(f, masks),
    infoNCE(f, masks, { positive: 'mean-exp' }),
    cflObjective(logits, f, masks),
  ])
    assert(t instanceof tf.Tensor && t.rank === 0 && Number.isFinite(t.dataSync()[0]), `got ${t}`);
});

await check('a stochastic forward: the gradient at the features the tape saw (relative error ≤ 1e-4)', () => {
  const w = tf.variable(tf.randomNormal([CIN, C], 0, 0.5, 'float32', 4));
  let seen;
  const { value, grads } = tf.variableGrads(() => {
    const f = tf.add(linear(w), tf.randomNormal([B, C, H, W], 0, 0.3));
    seen = f.dataSync().slice();
    return infoNCE(f, masks);
  }, [w]);
  const plain = engine.infoNCESync({ features: seen, mask, shape: [B, C, H, W] });
  assert(Math.abs(value.dataSync()[0] - plain.loss) <= 1e-6 * Math.abs(plain.loss), 'value');
  const [want] = tf.grads((v) => tf.sum(tf.mul(linear(v), tf.tensor4d(plain.grad.features, [B, C, H, W]))))([w]);
  const got = grads[w.name].dataSync(),
    expected = want.dataSync();
  let err = 0,
    norm = 0;
  expected.forEach((e, i) => {
    err += (got[i] - e) ** 2;
    norm += e ** 2;
  });
  assert(Math.sqrt(err / norm) <= 1e-4, `relative error ${Math.sqrt(err / norm)}`);
});

await check("'channelsLast' gives the 'channelsFirst' value", () => {
  const f = tf.randomNormal([B, C, H, W], 0, 1, 'float32', 5);
  const first = patchContrast(f, masks).dataSync()[0];
  const last = patchContrast(tf.transpose(f, [0, 2, 3, 1]), masks, { dataFormat: 'channelsLast' }).dataSync()[0];
  assert(first === last, `${first} vs ${last}`);
});

const losses = {};
await check('optimizer.minimize lowers the loss', () => {
  const w = tf.variable(tf.randomNormal([CIN, C], 0, 0.5, 'float32', 6));
  const x = tf.add(input, tf.mul(tf.reshape(tf.tensor1d(mask), [B * H * W, 1]), tf.tensor1d([1, 0, 0])));
  const model = () => tf.transpose(tf.reshape(tf.matMul(x, w), [B, H, W, C]), [0, 3, 1, 2]);
  const optimizer = tf.train.adam(0.05);
  losses.minimize = [];
  for (let step = 0; step < 10; step++)
    losses.minimize.push(optimizer.minimize(() => infoNCE(model(), masks), true).dataSync()[0]);
  assert(losses.minimize.at(-1) < losses.minimize[0], losses.minimize.join(', '));
});

await check(
  "model.fit with layersLoss('infoNCE', { temperature: 0.1 }) lowers a 2-conv model's loss over 8 epochs",
  async () => {
    const n = 8;
    const m = Float32Array.from({ length: n * H * W }, (_, i) => (i % W > 7 && Math.floor(i / W) % H < 8 ? 1 : 0));
    const noise = tf.randomNormal([n, H, W, CIN], 0, 1, 'float32', 7);
    const x = tf.mul(noise, tf.add(0.3, tf.mul(tf.tensor4d(m, [n, H, W, 1]), 1.2)));
    const y = tf.tile(tf.tensor4d(m, [n, H, W, 1]), [1, 1, 1, C]);
    const init = (seed) => tfl.initializers.glorotNormal({ seed });
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({
          inputShape: [H, W, CIN],
          filters: 12,
          kernelSize: 3,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: init(1),
        }),
        tfl.layers.conv2d({ filters: C, kernelSize: 3, padding: 'same', kernelInitializer: init(2) }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: layersLoss('infoNCE', { temperature: 0.1 }) });
    const history = await model.fit(x, y, { epochs: 8, batchSize: 4, shuffle: false, verbose: 0 });
    losses.fit = history.history.loss;
    assert(losses.fit.at(-1) < losses.fit[0], losses.fit.join(', '));
  },
);

await engine.dispose();
await createEngine().then((e) => e.dispose());
console.log(JSON.stringify({ failures, checks, losses }));
