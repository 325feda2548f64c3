// One run of the scope ablation: the feature extractor of examples/train, trained with infoNCE of
// one scope on given batches; its held-out IoU (2-means clusters of the features) every
// `evalEvery` steps, and the summary numbers of its loss curve.

import * as tf from '@tensorflow/tfjs-core';
import { infoNCE } from 'forgery-losses/tfjs';
import { rng } from '../train/data.mjs';
import { iou, twoMeans } from '../train/kmeans.mjs';
import { createModel } from '../train/model.mjs';
import { finalLoss, lossJitter } from './metrics.mjs';

/** Mean held-out IoU of 2-means clusters of the features (the smaller cluster is the forged one). */
function heldOutIoU(model, heldOut, { batch, size, dim }) {
  const hw = size * size,
    n = heldOut.masks.length / hw;
  let sum = 0;
  for (let from = 0; from < n; from += batch) {
    const count = Math.min(batch, n - from);
    const features = tf.tidy(() => {
      const images = tf.tensor4d(heldOut.images.subarray(from * 3 * hw, (from + count) * 3 * hw), [
        count,
        3,
        size,
        size,
      ]);
      return model.forward(images).features.dataSync().slice();
    });
    for (let i = 0; i < count; i++) {
      const pred = twoMeans(features.subarray(i * dim * hw, (i + 1) * dim * hw), dim, hw);
      sum += iou(pred, heldOut.masks.subarray((from + i) * hw, (from + i + 1) * hw));
    }
  }
  return sum / n;
}

/** One training step, the only place the ablation calls the loss (a sync op); the loss before the step. */
function step(model, optimizer, images, masks, { scope, temperature, maxPerClass, seed }) {
  const options = { scope, temperature, sample: { maxPerClass, seed } };
  const value = optimizer.minimize(() => infoNCE(model.forward(images).features, masks, options), true, model.trunk);
  const loss = value.dataSync()[0];
  value.dispose();
  return loss;
}

/**
 * A training run of infoNCE scope `scope` from model seed `modelSeed` over `batches`, logging as
 * `[tag]`; resolves to { name, loss: per step, iou: [step, IoU][], summary: { finalLoss, iou, lossJitter } }.
 */
export async function runScope({ config, heldOut, log }, scope, { modelSeed, batches, tag = scope }) {
  const { batch, size, dim, evalEvery, learningRate, temperature } = config;
  const steps = batches.length;
  const model = createModel(rng(modelSeed), { dim });
  const optimizer = tf.train.adam(learningRate);
  const maxPerClass = scope === 'batch' ? batch * config.maxPerImage : config.maxPerImage;
  const curve = { name: `scope ${scope}`, loss: [], iou: [[0, heldOutIoU(model, heldOut, config)]] };
  log(`[${tag}] held-out IoU before training ${curve.iou[0][1].toFixed(3)}`);
  const started = performance.now();
  for (let s = 1; s <= steps; s++) {
    const data = batches[s - 1];
    const images = tf.tensor4d(data.images, [batch, 3, size, size]);
    const masks = tf.tensor3d(data.masks, [batch, size, size]);
    curve.loss.push(step(model, optimizer, images, masks, { scope, temperature, maxPerClass, seed: s }));
    tf.dispose([images, masks]);
    if (s % evalEvery === 0 || s === steps) {
      curve.iou.push([s, heldOutIoU(model, heldOut, config)]);
      const recent = curve.loss.slice(-evalEvery);
      log(
        `[${tag}] step ${String(s).padStart(4)}/${steps}  train loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}  held-out IoU ${curve.iou.at(-1)[1].toFixed(3)}  ${((performance.now() - started) / s).toFixed(0)} ms/step`,
      );
    }
  }
  model.dispose();
  optimizer.dispose();
  curve.summary = { finalLoss: finalLoss(curve.loss), iou: curve.iou.at(-1)[1], lossJitter: lossJitter(curve.loss) };
  log(`[${tag}] done in ${((performance.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(curve.summary)}`);
  return curve;
}
