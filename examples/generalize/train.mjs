// npm run example:generalize: do the contrastive losses generalize to manipulations the model never
// saw better than cross-entropy? The small TF.js feature extractor of examples/train is trained
// three ways with equal budgets (same initial weights, the same batches in the same order, steps,
// learning rate and model body per seed):
//   ce      (a) weighted pixel cross-entropy of the 2-class head, localized by its argmax;
//   cflnet  (b) CFL-Net's objective, the same cross-entropy + α · patch contrast, localized by the head;
//   focal   (c) FOCAL's per-image InfoNCE++ of the features, localized by 2-means clustering.
// Training images splice a region with noise, blur or JPEG-like blocking into a host; held-out
// images come in two fixed splits: those manipulations (seen) and resampling or a fine grating
// (unseen), which no training image had (data.mjs). Every method runs on every seed.
//
// Progress lines go to stdout, the plot to --out (default docs/generalization.png). The last line
// is one JSON object, IoU and F1 of the forged pixels averaged over each split's images, then
// mean and sample sd over the seeds:
//   {"seeds": N, "methods": {"ce": {"seen": {mean, sd, f1: {mean, sd}}, "unseen": {...}}, "cflnet": ..., "focal": ...}, "seconds": S}
//
//   node examples/generalize/train.mjs [--seeds N] [--steps K] [--size S] [--held-out N] [--out PATH | --no-plot]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { createEngine } from 'forgery-losses';
import { ready } from 'forgery-losses/tfjs';
import { registerTfjsGradients } from '../../support/tfjs-gradients.mjs';
import { rng } from '../train/data.mjs';
import { createModel } from '../train/model.mjs';
import { heldOutSet, SEEN, trainingBatches, UNSEEN } from './data.mjs';
import { scoreSet, summarize } from './evaluate.mjs';
import { plotGeneralization } from './plot.mjs';
import { reportLines, resultObject } from './report.mjs';
import { STEPS } from './step.mjs';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const flag = (name, fallback) => Number(arg(name) ?? fallback);
const CONFIG = {
  seeds: flag('--seeds', 5),
  steps: flag('--steps', 120),
  size: flag('--size', 48), // image side (pixels), a multiple of 8
  heldOut: flag('--held-out', 48), // images per held-out split
  batch: 8,
  dim: 16, // feature channels
  learningRate: 5e-3,
  temperature: 0.1,
  patchSize: 4, // CFL-Net patches
  alpha: 1, // CFL-Net's weight of the patch contrast
  maxPerClass: 256, // FOCAL: sampled pixels per class and image, drawn afresh each step
  dataSeed: 20_250_000, // + seed: the training batches of a seed
  heldOutSeeds: { seen: 1_000_003, unseen: 2_000_003 },
};
for (const [k, name] of Object.entries({ seeds: '--seeds', steps: '--steps', size: '--size', heldOut: '--held-out' }))
  if (!(Number.isInteger(CONFIG[k]) && CONFIG[k] >= 1)) throw new Error(`${name} must be a positive integer`);
if (CONFIG.size % 8 !== 0) throw new Error('--size must be a multiple of 8 (JPEG-like blocks)');
const OUT = process.argv.includes('--no-plot')
  ? null
  : resolve(arg('--out') ?? fileURLToPath(new URL('../../docs/generalization.png', import.meta.url)));

/** What each method trains and how it localizes; `alt` is a second localizer, for comparison only. */
const METHODS = {
  ce: { vars: (m) => m.variables.filter((v) => !v.name.startsWith('feat/')), localize: 'head', alt: 'margin' },
  cflnet: { vars: (m) => m.variables, localize: 'head', alt: 'margin' },
  focal: { vars: (m) => m.trunk, localize: 'cluster' },
};
const SPLITS = ['seen', 'unseen'];

const t0 = performance.now();
await registerTfjsGradients(); // tfjs-core's Node bundle registers none
await tf.setBackend('wasm');
await tf.ready();
const engine = await createEngine({ threads: 1 });
await ready({ engine });
const { seeds, steps, size, batch, dim } = CONFIG;
const log = (line) => console.log(line);
log(
  `TF.js ${tf.version_core} (${tf.getBackend()} backend), forgery-losses engine ${engine.info.backend}; ${seeds} seeds × 3 methods, ${steps} steps of batch ${batch}, ${size}x${size} images, ${CONFIG.heldOut} held-out images per split`,
);
const heldOut = Object.fromEntries(
  SPLITS.map((s) => [s, heldOutSet(CONFIG.heldOutSeeds[s], s === 'seen' ? SEEN : UNSEEN, CONFIG.heldOut, size)]),
);

/** Trains one method on one seed's batches; its held-out summaries per split (and per `alt` localizer). */
async function trainAndScore(name, seed, batches) {
  const method = METHODS[name];
  const model = createModel(rng(seed), { dim });
  const optimizer = tf.train.adam(CONFIG.learningRate);
  const varList = method.vars(model);
  const started = performance.now(),
    losses = [];
  for (const [s, data] of batches.entries()) {
    const images = tf.tensor4d(data.images, [batch, 3, size, size]);
    const masks = tf.tensor3d(data.masks, [batch, size, size]);
    const target = Int32Array.from(data.masks);
    losses.push(STEPS[name]({ model, optimizer, varList, images, masks, target, step: s + 1, o: CONFIG }));
    tf.dispose([images, masks]);
  }
  const rules = method.alt ? [method.localize, method.alt] : [method.localize];
  const result = { alt: {} };
  for (const split of SPLITS) {
    const scores = scoreSet(model, heldOut[split], rules, CONFIG);
    result[split] = summarize(scores[method.localize], heldOut[split].kinds);
    if (method.alt) result.alt[split] = summarize(scores[method.alt], heldOut[split].kinds);
  }
  model.dispose();
  optimizer.dispose();
  const tail = losses.slice(-Math.max(1, Math.round(steps / 10)));
  log(
    `[seed ${seed}/${seeds} ${name}] ${steps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s, final train loss ${(tail.reduce((a, b) => a + b, 0) / tail.length).toFixed(3)}; held-out IoU seen ${result.seen.iou.toFixed(3)}, unseen ${result.unseen.iou.toFixed(3)} (F1 ${result.seen.f1.toFixed(3)}, ${result.unseen.f1.toFixed(3)})`,
  );
  return result;
}

const runs = { ce: [], cflnet: [], focal: [] };
for (let seed = 1; seed <= seeds; seed++) {
  const batches = trainingBatches(CONFIG.dataSeed + seed, steps, batch, size);
  for (const name of Object.keys(METHODS)) runs[name].push(await trainAndScore(name, seed, batches));
}
await engine.dispose();

for (const line of reportLines(runs)) log(line);

if (OUT) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, plotGeneralization(runs, { seeds, steps, size, batch }));
  log(`wrote ${OUT}`);
}
console.log(JSON.stringify({ ...resultObject(runs), seconds: Math.round((performance.now() - t0) / 100) / 10 }));
