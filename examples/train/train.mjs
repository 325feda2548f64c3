// npm run example:train: a small convolutional feature extractor in TF.js (wasm backend), trained
// on synthetic forgeries generated on the fly, with the losses of forgery-losses/tfjs as sync ops
// (each step one optimizer.minimize, one forward pass):
//
//   1. infoNCE (FOCAL): per-pixel features, localized at test time by 2-means clustering of the
//      features (the smaller cluster is the forged region);
//   2. cflObjective (CFL-Net): the same network with a 2-class head, localized by its argmax.
//
// Progress lines go to stdout; the held-out loss and IoU (mean over held-out images) are measured
// before and after each run; docs/training-curve.png plots loss per step and held-out IoU. The
// last line is one JSON object for run 1: {"initialLoss", "finalLoss", "iouBefore", "iouAfter"}.
//
//   node examples/train/train.mjs [--steps N] [--cfl-steps N] [--no-plot]

import { mkdirSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { createEngine } from 'forgery-losses';
import { cflObjective, infoNCE, ready } from 'forgery-losses/tfjs';
import { registerTfjsGradients } from '../../support/tfjs-gradients.mjs';
import { makeBatch, rng } from './data.mjs';
import { iou, twoMeans } from './kmeans.mjs';
import { createModel } from './model.mjs';
import { plotCurves } from './plot.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const CONFIG = {
  size: 64, // image side (pixels)
  batch: 8,
  dim: 16, // feature channels
  steps: arg('--steps', 160), // infoNCE run
  cflSteps: arg('--cfl-steps', 160), // cflObjective run
  evalEvery: 20,
  heldOut: 48,
  learningRate: 5e-3,
  temperature: 0.1,
  maxPerClass: 1024, // infoNCE pixels per class and image, drawn afresh each step
  patchSize: 4, // cflObjective patches
};
const PLOT = new URL('../../docs/training-curve.png', import.meta.url);

await registerTfjsGradients(); // tfjs-core's Node bundle registers none
await tf.setBackend('wasm');
await tf.ready();
const engine = await createEngine({ threads: 1 });
await ready({ engine });
const { size, batch, dim } = CONFIG;
const hw = size * size;
const log = (line) => console.log(line);
log(
  `TF.js ${tf.version_core} (${tf.getBackend()} backend), forgery-losses engine ${engine.info.backend}; ${size}×${size} images, batch ${batch}, ${dim} feature channels`,
);

// Held-out images: the same for both runs, never trained on.
const heldOut = makeBatch(rng(1_000_003), CONFIG.heldOut, size);

/** Features and logits of held-out images [from, from + n), as plain arrays (NCHW). */
function outputsOf(model, from, n) {
  return tf.tidy(() => {
    const images = tf.tensor4d(heldOut.images.subarray(from * 3 * hw, (from + n) * 3 * hw), [n, 3, size, size]);
    const { features, logits } = model.forward(images);
    return { features: features.dataSync().slice(), logits: logits.dataSync().slice() };
  });
}

/**
 * Mean held-out loss and IoU. 'nce': the infoNCE loss (every pixel) and the IoU of 2-means
 * clustering of the features; 'cfl': cflObjective and the IoU of the logits' argmax.
 */
async function evaluate(model, mode) {
  let loss = 0,
    sumIoU = 0;
  for (let from = 0; from < CONFIG.heldOut; from += batch) {
    const n = Math.min(batch, CONFIG.heldOut - from);
    const { features, logits } = outputsOf(model, from, n);
    const mask = heldOut.masks.subarray(from * hw, (from + n) * hw);
    const shape = [n, dim, size, size];
    const r =
      mode === 'nce'
        ? await engine.infoNCE({ features, mask, shape, temperature: CONFIG.temperature, grad: false })
        : await engine.cflObjective({
            logits,
            features,
            mask,
            shape,
            patchSize: CONFIG.patchSize,
            temperature: CONFIG.temperature,
            grad: false,
          });
    loss += r.loss * n;
    for (let i = 0; i < n; i++) {
      const truth = mask.subarray(i * hw, (i + 1) * hw);
      let pred;
      if (mode === 'nce') pred = twoMeans(features.subarray(i * dim * hw, (i + 1) * dim * hw), dim, hw);
      else {
        pred = new Uint8Array(hw);
        for (let p = 0; p < hw; p++) pred[p] = logits[(i * 2 + 1) * hw + p] > logits[i * 2 * hw + p] ? 1 : 0;
      }
      sumIoU += iou(pred, truth);
    }
  }
  return { loss: loss / CONFIG.heldOut, iou: sumIoU / CONFIG.heldOut };
}

/** One training run; returns the curves and the held-out numbers before and after. */
async function run(name, mode, steps, seed, title) {
  const model = createModel(rng(seed), { dim });
  const optimizer = tf.train.adam(CONFIG.learningRate);
  const varList = mode === 'nce' ? model.trunk : model.variables;
  const trainRand = rng(seed * 7919 + 1);
  const before = await evaluate(model, mode);
  log(`[${name}] held-out before training: loss ${before.loss.toFixed(4)}, IoU ${before.iou.toFixed(3)}`);
  const curve = { name, loss: [], iou: [[0, before.iou]] };
  const started = performance.now();
  for (let step = 1; step <= steps; step++) {
    const data = makeBatch(trainRand, batch, size);
    const images = tf.tensor4d(data.images, [batch, 3, size, size]);
    const masks = tf.tensor3d(data.masks, [batch, size, size]);
    // One forward pass on the tape, the loss a sync op over it.
    const loss = () => {
      const { features, logits } = model.forward(images);
      if (mode === 'nce')
        return infoNCE(features, masks, {
          temperature: CONFIG.temperature,
          sample: { maxPerClass: CONFIG.maxPerClass, seed: step },
        });
      return cflObjective(logits, features, masks, { patchSize: CONFIG.patchSize, temperature: CONFIG.temperature });
    };
    const value = optimizer.minimize(loss, true, varList);
    curve.loss.push(value.dataSync()[0]);
    tf.dispose([value, images, masks]);
    if (step % CONFIG.evalEvery === 0 || step === steps) {
      const e = await evaluate(model, mode);
      curve.iou.push([step, e.iou]);
      const recent = curve.loss.slice(-CONFIG.evalEvery);
      const ms = (performance.now() - started) / step;
      log(
        `[${name}] step ${String(step).padStart(3)}/${steps}  train loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}  held-out IoU ${e.iou.toFixed(3)}  ${ms.toFixed(0)} ms/step`,
      );
    }
  }
  const after = await evaluate(model, mode);
  const seconds = (performance.now() - started) / 1000;
  log(
    `[${name}] held-out after ${steps} steps (${seconds.toFixed(0)} s): loss ${after.loss.toFixed(4)}, IoU ${after.iou.toFixed(3)}`,
  );
  model.dispose();
  optimizer.dispose();
  return { curve, before, after, seconds, title };
}

const t0 = performance.now();
const nce = await run('infoNCE', 'nce', CONFIG.steps, 1, 'infoNCE (FOCAL): IoU of 2-means clusters of the features');
const cfl = await run('cflObjective', 'cfl', CONFIG.cflSteps, 2, 'cflObjective (CFL-Net): IoU of the 2-class head');
if (!process.argv.includes('--no-plot')) {
  mkdirSync(new URL('.', PLOT), { recursive: true });
  writeFileSync(PLOT, plotCurves([nce, cfl]));
  log(`wrote ${PLOT.pathname}`);
}
log(
  `cflObjective run: ${JSON.stringify({ initialLoss: cfl.before.loss, finalLoss: cfl.after.loss, iouBefore: cfl.before.iou, iouAfter: cfl.after.iou })}`,
);
log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
await engine.dispose();
console.log(
  JSON.stringify({
    initialLoss: nce.before.loss,
    finalLoss: nce.after.loss,
    iouBefore: nce.before.iou,
    iouAfter: nce.after.iou,
  }),
);
