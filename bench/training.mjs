// What a loss costs a TF.js training step (docs/tfjs.md, "Training speed"): one optimizer step of
// examples/train's model (infoNCE, as the example trains it) and of a 3-conv net (B 4, 64×64,
// 32 channels; patchContrast and infoNCE), on TF.js's cpu and wasm backends, with
//   trivial     the same step with a loss composed of TF.js ops, tf.mean(tf.square(f)): the floor;
//   sync        forgery-losses/tfjs's op on the tape: one forward;
//   two-phase   mainThreadMinimize: the engine's async call, then the forward again on the tape;
// and the engine's sync call alone at the same features. benchmark.js, median ms per step; the
// sync step should cost the trivial step plus the engine call. Prints a table (and JSON lines).
//   npm run build && node bench/training.mjs [--backend cpu,wasm] [--threads 1,2] [--markdown FILE]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import Benchmark from 'benchmark';
import { createEngine } from '../dist/index.js';
import { infoNCE, mainThreadLosses, mainThreadMinimize, patchContrast, ready } from '../dist/tfjs.js';
import { makeBatch, rng } from '../examples/train/data.mjs';
import { conv, createModel } from '../examples/train/model.mjs';
import { registerTfjsGradients } from '../support/tfjs-gradients.mjs';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu,wasm' },
    threads: { type: 'string', default: '1,2' },
    markdown: { type: 'string' },
  },
});
await registerTfjsGradients();

/** The 3-conv net: NHWC convolutions (gradients as convolutions: examples/train/model.mjs), 32 channels. */
function threeConv() {
  const r = rng(3);
  const he = (shape) =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', Math.floor(r() * 1e6)), Math.sqrt(2 / (9 * shape[2]))));
  const w = [he([3, 3, 3, 32]), he([3, 3, 32, 32]), he([3, 3, 32, 32])];
  const x = tf.randomUniform([4, 64, 64, 3], 0, 1, 'float32', 5);
  const masks = tf.tensor3d(makeBatch(rng(6), 4, 64).masks, [4, 64, 64]);
  const forward = () => conv(tf.relu(conv(tf.relu(conv(x, w[0])), w[1])), w[2]);
  return {
    name: '3-conv net, 4×64×64, 32 channels',
    forward,
    nchw: () => tf.transpose(forward(), [0, 3, 1, 2]),
    variables: w,
    masks,
    layout: 'channelsLast',
    dispose: () => tf.dispose([w, x, masks]),
  };
}

/** examples/train's model at the example's sizes (batch 8, 64×64, 16 feature channels). */
function exampleModel() {
  const model = createModel(rng(1), { dim: 16 });
  const data = makeBatch(rng(2), 8, 64);
  const images = tf.tensor4d(data.images, [8, 3, 64, 64]);
  const masks = tf.tensor3d(data.masks, [8, 64, 64]);
  const forward = () => model.forward(images).features;
  return {
    name: "examples/train's model, 8×64×64, 16 channels",
    forward,
    nchw: forward,
    variables: model.trunk,
    masks,
    layout: 'channelsFirst',
    dispose: () => {
      model.dispose();
      tf.dispose([images, masks]);
    },
  };
}

const LOSSES = {
  patchContrast: { op: patchContrast, options: { patchSize: 4 } },
  infoNCE: { op: infoNCE, options: { sample: { maxPerClass: 1024, seed: 0 } } },
};

/** Median ms of `fn` (a step), by benchmark.js. */
function time(fn, deferred = false) {
  return new Promise((resolve) => {
    const bench = new Benchmark({
      defer: deferred,
      fn: deferred ? (d) => fn().then(() => d.resolve()) : fn,
      minSamples: 8,
      maxTime: 3,
      initCount: 1,
    });
    bench.on('complete', () => {
      const s = [...bench.stats.sample].sort((a, b) => a - b);
      resolve(s[Math.floor(s.length / 2)] * 1e3);
    });
    bench.run();
  });
}

async function measure(net, loss, threads) {
  const engine = await createEngine({ threads, workers: 'eager' });
  await ready({ engine });
  const { op, options } = LOSSES[loss];
  const o = { ...options, dataFormat: net.layout };
  const optimizer = tf.train.adam(1e-4);
  const step = (lossOf) => () => tf.dispose(optimizer.minimize(() => lossOf(net.forward()), true, net.variables));
  const trivial = await time(step((f) => tf.mean(tf.square(f))));
  const sync = await time(step((f) => op(f, net.masks, o)));
  const losses = mainThreadLosses(engine);
  const twoPhase = await time(
    () => mainThreadMinimize(optimizer, net.nchw, (f) => losses[loss](f, net.masks, options), net.variables),
    true,
  );
  // The engine's sync call alone, at the forward's features (as the op reads them).
  const features = tf.tidy(net.nchw);
  const mask = net.masks.dataSync();
  const values = features.dataSync();
  const call = await time(() => engine[`${loss}Sync`]({ ...options, features: values, mask, shape: features.shape }));
  tf.dispose(features);
  await engine.dispose();
  return { trivial, sync, twoPhase, call };
}

const rows = [];
for (const backend of args.backend.split(',')) {
  await tf.setBackend(backend);
  await tf.ready();
  for (const make of [exampleModel, threeConv]) {
    const net = make();
    for (const loss of make === exampleModel ? ['infoNCE'] : ['patchContrast', 'infoNCE'])
      for (const threads of args.threads.split(',').map(Number)) {
        const t = await measure(net, loss, threads);
        const row = { backend, model: net.name, loss, threads, ...t };
        console.log(JSON.stringify(row));
        rows.push(row);
      }
    net.dispose();
  }
}

const ms = (v) => `${v.toFixed(1)} ms`;
const table = [
  '| TF.js backend | model | loss | engine threads | trivial loss | engine call | sync op | trivial + call | two-phase | sync vs two-phase |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.backend} | ${r.model} | ${r.loss} | ${r.threads} | ${ms(r.trivial)} | ${ms(r.call)} | ${ms(r.sync)} | ` +
      `${ms(r.trivial + r.call)} | ${ms(r.twoPhase)} | ${(r.sync / r.twoPhase).toFixed(2)}× |`,
  ),
].join('\n');
console.log(`\n${table}`);
if (args.markdown) writeFileSync(args.markdown, `${table}\n`);
