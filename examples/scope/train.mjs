// npm run example:scope: FOCAL's ablation of the InfoNCE++ scope (its Fig. 4) on a synthetic data
// set built to contain its conflicts (conflicts.mjs: the same texture forged in one image and the
// pristine host of another). The small TF.js feature extractor of examples/train is trained twice
// from the same seed (same initial weights, same batches in the same order, same pixel samples,
// steps and learning rate): with infoNCE scope 'image' (one dictionary per image, the default) and
// scope 'batch' (one dictionary over the batch stacked into one image). Held-out images come from
// the same generator with another seed and are localized by 2-means clustering of the features.
//
// Progress lines go to stdout, the plot to --out (default docs/scope-ablation.png). The last line
// is one JSON object: {"image": {finalLoss, iou, lossJitter}, "batch": {...}, steps, seconds}, with
//   finalLoss  the mean training loss of the last 10 % of the steps,
//   iou        the mean held-out IoU after the last step,
//   lossJitter the mean |loss(t) − loss(t−1)| over the second half of training / the mean loss there.
// The two scopes' losses have different scales (the batch dictionary is B times larger), so compare
// IoU and jitter, not raw losses.
//
//   node examples/scope/train.mjs [--steps N] [--out PATH]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { createEngine } from 'forgery-losses';
import { minimize, tfjsLosses } from 'forgery-losses/tfjs';
import { registerTfjsGradients } from '../../support/tfjs-gradients.mjs';
import { rng } from '../train/data.mjs';
import { iou, twoMeans } from '../train/kmeans.mjs';
import { createModel } from '../train/model.mjs';
import { conflictBatch } from './conflicts.mjs';
import { finalLoss, lossJitter } from './metrics.mjs';
import { plotAblation } from './plot.mjs';

const flag = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const CONFIG = {
  size: 64, // image side (pixels)
  batch: 8,
  dim: 16, // feature channels
  steps: Number(flag('--steps') ?? 120),
  evalEvery: 10,
  heldOut: 32,
  learningRate: 5e-3,
  temperature: 0.1,
  maxPerImage: 512, // sampled pixels per class and image; scope 'batch' draws batch × this from the stack
  modelSeed: 1,
  trainSeed: 20_240_501,
  heldOutSeed: 1_000_003,
};
const OUT = resolve(flag('--out') ?? fileURLToPath(new URL('../../docs/scope-ablation.png', import.meta.url)));
if (!(CONFIG.steps >= 1)) throw new Error('--steps must be a positive number');

const t0 = performance.now();
await registerTfjsGradients(); // tfjs-core's Node bundle registers none
await tf.setBackend('wasm');
await tf.ready();
const engine = await createEngine({ threads: 1 });
const fl = tfjsLosses(engine);
const { size, batch, dim, steps } = CONFIG;
const hw = size * size;
const log = (line) => console.log(line);
log(
  `TF.js ${tf.version_core} (${tf.getBackend()} backend), forgery-losses engine ${engine.info.backend}; ${size}x${size} images, batch ${batch}, ${dim} feature channels, ${steps} steps per run`,
);

// The training batches, generated once and replayed in the same order for both runs.
const batches = Array.from({ length: steps }, (_, s) => conflictBatch(CONFIG.trainSeed + s, batch, size));
const conflicted = batches.filter((b) => b.conflicts > 0).length;
const meanConflicts = batches.reduce((n, b) => n + b.conflicts, 0) / steps;
log(
  `training batches: ${conflicted}/${steps} hold a texture that is forged in one image and pristine in another (${meanConflicts.toFixed(2)} such textures per batch)`,
);
const heldOut = conflictBatch(CONFIG.heldOutSeed, CONFIG.heldOut, size);

/** Mean held-out IoU of 2-means clusters of the features (the smaller cluster is the forged one). */
function heldOutIoU(model) {
  let sum = 0;
  for (let from = 0; from < CONFIG.heldOut; from += batch) {
    const n = Math.min(batch, CONFIG.heldOut - from);
    const features = tf.tidy(() => {
      const images = tf.tensor4d(heldOut.images.subarray(from * 3 * hw, (from + n) * 3 * hw), [n, 3, size, size]);
      return model.forward(images).features.dataSync().slice();
    });
    for (let i = 0; i < n; i++) {
      const pred = twoMeans(features.subarray(i * dim * hw, (i + 1) * dim * hw), dim, hw);
      sum += iou(pred, heldOut.masks.subarray((from + i) * hw, (from + i + 1) * hw));
    }
  }
  return sum / CONFIG.heldOut;
}

/** One training run with infoNCE scope `scope`; returns its curves and summary. */
async function run(scope) {
  const model = createModel(rng(CONFIG.modelSeed), { dim });
  const optimizer = tf.train.adam(CONFIG.learningRate);
  const maxPerClass = scope === 'batch' ? batch * CONFIG.maxPerImage : CONFIG.maxPerImage;
  const curve = { name: `scope ${scope}`, loss: [], iou: [[0, heldOutIoU(model)]] };
  log(`[${scope}] held-out IoU before training ${curve.iou[0][1].toFixed(3)}`);
  const started = performance.now();
  for (let step = 1; step <= steps; step++) {
    const data = batches[step - 1];
    const images = tf.tensor4d(data.images, [batch, 3, size, size]);
    const masks = tf.tensor3d(data.masks, [batch, size, size]);
    const { value } = await minimize(
      optimizer,
      () => model.forward(images).features,
      (features) =>
        fl.infoNCE(features, masks, {
          scope,
          temperature: CONFIG.temperature,
          sample: { maxPerClass, seed: step },
        }),
      model.trunk,
    );
    tf.dispose([images, masks]);
    curve.loss.push(value);
    if (step % CONFIG.evalEvery === 0 || step === steps) {
      curve.iou.push([step, heldOutIoU(model)]);
      const recent = curve.loss.slice(-CONFIG.evalEvery);
      log(
        `[${scope}] step ${String(step).padStart(4)}/${steps}  train loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}  held-out IoU ${curve.iou.at(-1)[1].toFixed(3)}  ${((performance.now() - started) / step).toFixed(0)} ms/step`,
      );
    }
  }
  model.dispose();
  optimizer.dispose();
  curve.summary = { finalLoss: finalLoss(curve.loss), iou: curve.iou.at(-1)[1], lossJitter: lossJitter(curve.loss) };
  log(`[${scope}] done in ${((performance.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(curve.summary)}`);
  return curve;
}

const image = await run('image');
const batchRun = await run('batch');
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(
  OUT,
  plotAblation([image, batchRun], `infoNCE scope image vs batch - ${steps} steps, batch ${batch}, same seed`),
);
log(`wrote ${OUT}`);
await engine.dispose();
console.log(
  JSON.stringify({
    image: image.summary,
    batch: batchRun.summary,
    steps,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  }),
);
