// forgery-losses/tfjs on TF.js's webgpu backend, runtime-neutral (Deno over lavapipe, Chromium over
// SwiftShader): after `await ready()` the engine runs on TF.js's own device; a tf.variableGrads
// step plus an optimizer update, on features a tfjs-layers model computes on the GPU, makes no
// mapAsync call and no backend read for each loss; its value matches the wasm API at the taped
// features (relative 1e-4) and its weight gradient the one derived from the wasm API's gradient
// (relative 1e-3); no tensor leaks per step; small (CPU-resident) tensors, probabilities, reduction
// 'none' and non-finite features; and the device survives the engine's dispose.

import { tally } from './tally.mjs';

const B = 2,
  H = 16,
  W = 16,
  C = 8;

/** A mask with both classes in each image (a disc per image). */
function discMask() {
  const mask = new Float32Array(B * H * W);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) mask[(b * H + y) * W + x] = (y - 6 - 2 * b) ** 2 + (x - 8) ** 2 < 20 ? 1 : 0;
  return mask;
}

/** NHWC values of shape [b, h, w, c] as NCHW, and back. */
function toNchw(values, [b, h, w, c]) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < b; i++)
    for (let k = 0; k < h * w; k++)
      for (let ch = 0; ch < c; ch++) out[(i * c + ch) * h * w + k] = values[(i * h * w + k) * c + ch];
  return out;
}
function toNhwc(values, [b, c, h, w]) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < b; i++)
    for (let ch = 0; ch < c; ch++)
      for (let k = 0; k < h * w; k++) out[(i * h * w + k) * c + ch] = values[(i * c + ch) * h * w + k];
  return out;
}

const relErr = (a, e) => Math.abs(a - e) / Math.max(1e-12, Math.abs(e));
function maxRelErr(a, e) {
  let d = 0,
    m = 0;
  for (let i = 0; i < e.length; i++) {
    d = Math.max(d, Math.abs(a[i] - e[i]));
    m = Math.max(m, Math.abs(e[i]));
  }
  return d / Math.max(m, 1e-30);
}

/** Counts mapAsync calls and the backend's read/readSync while `fn` runs. */
function counting(tf, fn) {
  const proto = globalThis.GPUBuffer.prototype;
  const backend = tf.backend();
  const originals = { mapAsync: proto.mapAsync, read: backend.read, readSync: backend.readSync };
  const counts = { mapAsync: 0, read: 0, readSync: 0 };
  proto.mapAsync = function (...args) {
    counts.mapAsync++;
    return originals.mapAsync.apply(this, args);
  };
  backend.read = function (...args) {
    counts.read++;
    return originals.read.apply(this, args);
  };
  backend.readSync = function (...args) {
    counts.readSync++;
    return originals.readSync.apply(this, args);
  };
  try {
    return { result: fn(), counts };
  } finally {
    proto.mapAsync = originals.mapAsync;
    backend.read = originals.read;
    backend.readSync = originals.readSync;
  }
}

/** The losses under test: which channels of the model's output they take, the op, and the wasm reference. */
function cases(fl, mask, target) {
  const nce = (extra) => ({
    inputs: (out, tf) => [tf.slice(out, [0, 0, 0, 2], [-1, -1, -1, C])],
    op: ([f]) => fl.infoNCE(f, mask, { dataFormat: 'channelsLast', ...extra }),
    ref: (e, [f]) => {
      const r = e.infoNCESync({ features: f, mask, shape: [B, C, H, W], ...extra });
      return { loss: r.loss, grads: [r.grad.features] };
    },
    channels: [C],
  });
  const patch = (variant) => ({
    inputs: (out, tf) => [tf.slice(out, [0, 0, 0, 2], [-1, -1, -1, C])],
    op: ([f]) => fl.patchContrast(f, mask, { dataFormat: 'channelsLast', variant }),
    ref: (e, [f]) => {
      const r = e.patchContrastSync({ features: f, mask, shape: [B, C, H, W], variant });
      return { loss: r.loss, grads: [r.grad.features] };
    },
    channels: [C],
  });
  const weight = [0.5, 1, 2];
  return {
    'patchContrast exact': patch('exact'),
    'patchContrast cflnet': patch('cflnet'),
    'infoNCE mean-logit': nce({ positive: 'mean-logit' }),
    'infoNCE mean-exp': nce({ positive: 'mean-exp' }),
    "infoNCE mean-exp, sampled, scope 'batch'": nce({
      positive: 'mean-exp',
      sample: { maxPerClass: 40, seed: 7 },
      scope: 'batch',
    }),
    crossEntropy: {
      inputs: (out, tf) => [tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, 3])],
      op: ([l]) => fl.crossEntropy(l, target, { dataFormat: 'channelsLast', weight }),
      ref: (e, [l]) => {
        const r = e.crossEntropySync({ logits: l, target, shape: [B, 3, H, W], weight });
        return { loss: r.loss, grads: [r.grad.logits] };
      },
      channels: [3],
    },
    cflObjective: {
      inputs: (out, tf) => [tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, 2]), tf.slice(out, [0, 0, 0, 2], [-1, -1, -1, C])],
      op: ([l, f]) => fl.cflObjective(l, f, mask, { dataFormat: 'channelsLast' }),
      ref: (e, [l, f]) => {
        const r = e.cflObjectiveSync({ logits: l, features: f, mask, shape: [B, C, H, W] });
        return { loss: r.loss, grads: [r.grad.logits, r.grad.features] };
      },
      channels: [2, C],
    },
  };
}

export async function runTfjsWebGpuSuite({ tf, layers, fl, pkg }) {
  if (!(await tf.setBackend('webgpu').catch(() => false))) return { skipped: "TF.js's webgpu backend did not start" };
  await tf.ready();
  const steps = {};
  const { check, result } = tally({ stack: true });
  const engine = await fl.ready();
  const wasm = await pkg.createEngine({ backend: 'wasm' });
  const mask = discMask();
  const target = Int32Array.from(mask, (v, i) => (v ? 1 + (i % 2) : 0));
  const model = layers.sequential({
    layers: [
      layers.layers.conv2d({ inputShape: [H, W, 3], filters: 12, kernelSize: 3, padding: 'same', activation: 'tanh' }),
      layers.layers.conv2d({ filters: 2 + C, kernelSize: 3, padding: 'same' }),
    ],
  });
  const x = tf.randomUniform([B, H, W, 3], 0, 1, 'float32', 11);
  const optimizer = tf.train.sgd(0.05);

  await check('the read counter sees a read (so its zeros below mean something)', async () => {
    const t = tf.add(tf.ones([40, 40]), 1);
    const { result, counts } = counting(tf, () => t.data());
    await result;
    if (counts.read !== 1 || counts.mapAsync !== 1) throw new Error(`counted ${JSON.stringify(counts)}`);
    t.dispose();
  });

  await check("ready() runs the engine on TF.js's device", async () => {
    if (engine.info.backend !== 'webgpu' || !/caller's device/.test(engine.info.notes.join(' ')))
      throw new Error(`engine ${JSON.stringify(engine.info)}`);
  });

  for (const [name, c] of Object.entries(cases(fl, mask, target))) {
    await check(`${name}: a training step reads nothing back, and matches the wasm API`, async () => {
      // The reference first, at the same weights: the model is deterministic, so the step's taped
      // inputs are these (checked below).
      const shapes = c.channels.map((ch) => [B, H, W, ch]);
      const inputsNow = tf.tidy(() => c.inputs(model.predict(x), tf));
      const values = await Promise.all(inputsNow.map((t) => t.data()));
      const ref = c.ref(
        wasm,
        values.map((v, i) => toNchw(v, shapes[i])),
      );
      const gRef = ref.grads.map((g, i) => tf.tensor(toNhwc(g, [B, c.channels[i], H, W]), shapes[i]));
      const refGrads = tf.variableGrads(() =>
        tf.addN(c.inputs(model.predict(x), tf).map((t, i) => tf.sum(tf.mul(t, gRef[i])))),
      ).grads;
      const before = tf.memory().numTensors;
      let taped;
      const { result, counts } = counting(tf, () => {
        const step = tf.variableGrads(() => {
          const inputs = c.inputs(model.predict(x), tf);
          taped = inputs.map((t) => tf.keep(t.clone()));
          return c.op(inputs);
        });
        optimizer.applyGradients(step.grads);
        return step;
      });
      if (counts.mapAsync + counts.read + counts.readSync !== 0)
        throw new Error(`the step read back: ${JSON.stringify(counts)}`);
      const loss = (await result.value.data())[0];
      if (!(relErr(loss, ref.loss) <= 1e-4)) throw new Error(`loss ${loss}, wasm ${ref.loss}`);
      for (const [i, t] of taped.entries())
        if (maxRelErr(await t.data(), values[i]) !== 0) throw new Error('the taped inputs differ from the reference');
      let worst = 0;
      for (const [key, g] of Object.entries(result.grads)) {
        const e = maxRelErr(await g.data(), await refGrads[key].data());
        worst = Math.max(worst, e);
        if (!(e <= 1e-3)) throw new Error(`weight ${key}: gradient differs by ${e.toExponential(2)} of its maximum`);
      }
      steps[name] = { counts, loss, lossError: relErr(loss, ref.loss), gradError: worst };
      tf.dispose([result.value, Object.values(result.grads), taped, inputsNow, gRef, Object.values(refGrads)]);
      if (tf.memory().numTensors !== before - inputsNow.length - gRef.length - Object.keys(refGrads).length)
        throw new Error(`tensors: ${before} before the step, ${tf.memory().numTensors} after`);
    });
  }

  await check('no tensor leaked over repeated steps', async () => {
    const op = cases(fl, mask, target)['infoNCE mean-logit'];
    const step = () => optimizer.minimize(() => op.op(op.inputs(model.predict(x), tf)));
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) step();
    if (tf.memory().numTensors !== before) throw new Error(`${before} tensors, then ${tf.memory().numTensors}`);
  });

  await check('a small (CPU-resident) tensor is uploaded; a mask tensor and probabilities work', async () => {
    const f = tf.tensor4d(
      Float32Array.from({ length: 2 * 3 * 4 * 4 }, (_, i) => Math.sin(i)),
      [2, 3, 4, 4],
    );
    const m = new Float32Array(32).map((_, i) => (i % 5 < 2 ? 1 : 0));
    const { result, counts } = counting(tf, () => fl.patchContrast(f, tf.tensor3d(m, [2, 4, 4]), { patchSize: 2 }));
    if (counts.mapAsync !== 0) throw new Error(`${counts.mapAsync} mapAsync calls`);
    const r = wasm.patchContrastSync({ features: await f.data(), mask: m, shape: [2, 3, 4, 4], patchSize: 2 });
    const got = (await result.data())[0];
    if (!(relErr(got, r.loss) <= 1e-4)) throw new Error(`loss ${got}, wasm ${r.loss}`);
    const logits = tf.mul(tf.randomNormal([B, 3, H, W], 0, 1, 'float32', 3), 1);
    const probs = tf.softmax(tf.randomNormal([B, H, W, 3], 0, 1, 'float32', 4));
    const probsNchw = tf.transpose(probs, [0, 3, 1, 2]);
    const ce = fl.crossEntropy(logits, { probs: probsNchw });
    const w = wasm.crossEntropySync({
      logits: await logits.data(),
      targetProbs: await probsNchw.data(),
      shape: [B, 3, H, W],
    });
    const gotCe = (await ce.data())[0];
    if (!(relErr(gotCe, w.loss) <= 1e-4)) throw new Error(`probabilities: loss ${gotCe}, wasm ${w.loss}`);
    tf.dispose([f, result, logits, probs, probsNchw, ce]);
  });

  await check("reduction 'none': the (B, H, W) losses and the gradient of a weighting of them", async () => {
    const logits = tf.randomNormal([B, 3, H, W], 0, 1, 'float32', 5);
    const dy = tf.randomUniform([B, H, W], 0, 1, 'float32', 6);
    const [per, [g]] = [
      fl.crossEntropy(logits, target, { reduction: 'none' }),
      tf.grads((l) => tf.sum(tf.mul(fl.crossEntropy(l, target, { reduction: 'none' }), dy)))([logits]),
    ];
    const w = wasm.crossEntropySync({ logits: await logits.data(), target, shape: [B, 3, H, W], reduction: 'none' });
    const dyv = await dy.data();
    const expected = w.grad.logits.map((v, i) => v * dyv[Math.floor(i / (3 * H * W)) * H * W + (i % (H * W))]);
    if (!(maxRelErr(await per.data(), w.loss) <= 1e-4)) throw new Error('per-element losses differ');
    if (!(maxRelErr(await g.data(), expected) <= 1e-3)) throw new Error('gradient differs');
    tf.dispose([logits, dy, per, g]);
  });

  await check('non-finite features on the GPU: a NaN loss, no exception', async () => {
    const f = tf.tidy(() =>
      tf.mul(tf.slice(model.predict(x), [0, 0, 0, 2], [-1, -1, -1, C]), Number.POSITIVE_INFINITY),
    );
    for (const op of [
      () => fl.infoNCE(f, mask, { dataFormat: 'channelsLast' }),
      () => fl.patchContrast(f, mask, { dataFormat: 'channelsLast' }),
    ]) {
      const loss = op();
      const v = (await loss.data())[0];
      loss.dispose();
      if (!Number.isNaN(v)) throw new Error(`loss ${v}`);
    }
    f.dispose();
  });

  await check("the engine's dispose() leaves TF.js's device working", async () => {
    await fl.ready({ backend: 'wasm' }); // disposes the engine ready() made on the device
    const t = tf.add(tf.ones([64, 64]), 1);
    const sum = (await tf.sum(t).data())[0];
    if (sum !== 2 * 64 * 64) throw new Error(`sum ${sum}`);
    const lost = await Promise.race([
      tf.backend().device.lost.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 100)),
    ]);
    if (lost) throw new Error('the device was lost');
  });
  await wasm.dispose();
  return result({ steps });
}
