// Correct uses of forgery-losses/tfjs.
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from 'forgery-losses';
import { type BoundLoss, infoNCE, minimize, patchContrast, tfjsLosses } from 'forgery-losses/tfjs';

const features = tf.zeros([2, 4, 8, 8]);
const masks = tf.zeros([2, 8, 8]);
const loss = await infoNCE(features, masks, { temperature: 0.1 });
const value: number = loss.value;
const scalar: tf.Scalar = loss(features);
loss.dispose();

const optimizer = tf.train.adam(0.01);
const step = await minimize(
  optimizer,
  () => features,
  (f) => patchContrast(f as tf.Tensor, masks),
);
const stepValue: number = step.value;

const losses = tfjsLosses(await createEngine({ threads: 2 }));
const bound: BoundLoss<unknown, [tf.Tensor]> = await losses.patchContrast(features, masks);

export const used = [value, scalar, stepValue, bound];
