// Correct uses of forgery-losses/tfjs.
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from 'forgery-losses';
import {
  type BoundLoss,
  cflObjective,
  crossEntropy,
  infoNCE,
  type LayersLoss,
  layersLoss,
  mainThreadLosses,
  mainThreadMinimize,
  patchContrast,
  ready,
} from 'forgery-losses/tfjs';

const features = tf.zeros([2, 4, 8, 8]);
const masks = tf.zeros([2, 8, 8]);
await ready();
await ready({ threads: 2 });
await ready({ engine: await createEngine() });
const scalar: tf.Scalar = infoNCE(features, masks, { temperature: 0.1, dataFormat: 'channelsFirst' });
const perPixel: tf.Tensor = crossEntropy(tf.zeros([2, 2, 8, 8]), new Uint8Array(128), { reduction: 'none' });
const both: tf.Scalar = cflObjective(tf.zeros([2, 8, 8, 2]), tf.zeros([2, 8, 8, 4]), masks, {
  dataFormat: 'channelsLast',
});
const optimizer = tf.train.adam(0.01);
optimizer.minimize(() => patchContrast(features, masks, { patchSize: 2 }));
const loss: LayersLoss = layersLoss('infoNCE', { temperature: 0.1 });
const ce: LayersLoss = layersLoss('crossEntropy', { weight: [0.2, 0.8] });

const losses = mainThreadLosses(await createEngine({ threads: 2 }));
const bound: BoundLoss<unknown, [tf.Tensor]> = await losses.patchContrast(features, masks);
const step = await mainThreadMinimize(
  optimizer,
  () => features,
  (f) => losses.infoNCE(f as tf.Tensor, masks),
);
const stepValue: number = step.value;

export const used = [scalar, perPixel, both, loss, ce, bound, stepValue];
