// The losses as tfjs-layers loss functions, for `model.compile({ loss })` and `model.fit`:
// yPred is channels-last (tfjs-layers' layout), and yTrue must have yPred's shape, so the label
// rides in its channel 0 (docs/tfjs.md, "tfjs-layers").

import * as tf from '@tensorflow/tfjs-core';
import { checkChoice } from '../validate.js';
import { checkInput } from './inputs.js';
import {
  type CflObjectiveTfjsOptions,
  type CrossEntropyTfjsOptions,
  cflObjective,
  crossEntropy,
  type InfoNCETfjsOptions,
  infoNCE,
  type PatchContrastTfjsOptions,
  patchContrast,
} from './ops.js';

/** The options of each loss, without the layout (channels-last here). */
export interface LayersLossOptions {
  crossEntropy: Omit<CrossEntropyTfjsOptions, 'dataFormat' | 'reduction'> & { reduction?: 'mean' | 'sum' };
  patchContrast: Omit<PatchContrastTfjsOptions, 'dataFormat'>;
  infoNCE: Omit<InfoNCETfjsOptions, 'dataFormat'>;
  cflObjective: Omit<CflObjectiveTfjsOptions, 'dataFormat'>;
}

export type LayersLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;

/** Channel 0 of yTrue (B, H, W, K), for B·H·W pixels: the mask, or the class indices. */
function labelOf(yTrue: tf.Tensor, yPred: tf.Tensor): Float32Array {
  if (!(yTrue instanceof tf.Tensor) || yTrue.rank !== 4)
    throw new TypeError('yTrue must be a rank-4 tensor [B, H, W, K] whose channel 0 holds the label');
  const [b, h, w] = yPred.shape;
  const [tb, th, tw, k] = yTrue.shape;
  if (tb !== b || th !== h || tw !== w)
    throw new RangeError(`yTrue shape [${yTrue.shape.join(', ')}] does not match yPred's B, H, W [${b}, ${h}, ${w}]`);
  const values = yTrue.dataSync();
  const label = new Float32Array(b * h * w);
  for (let i = 0; i < label.length; i++) label[i] = values[i * k];
  return label;
}

/** Class indices from yTrue's channel 0: integers, or a RangeError naming the first that is not. */
function classesOf(label: Float32Array): Int32Array {
  const bad = label.findIndex((v) => !Number.isInteger(v));
  if (bad >= 0)
    throw new RangeError(`yTrue[${bad}, …, 0] = ${label[bad]}: crossEntropy's yTrue holds class indices in channel 0`);
  return Int32Array.from(label);
}

/**
 * `(yTrue, yPred) => tf.Scalar` for `model.compile({ loss })`. yPred is channels-last: features
 * (B, H, W, C) for patchContrast and infoNCE, logits (B, H, W, classes) for crossEntropy, and for
 * cflObjective the 2 logits then the C features (B, H, W, 2 + C). yTrue has yPred's shape with the
 * label in channel 0: the mask (crossEntropy: the class index of each pixel).
 */
export function layersLoss<N extends keyof LayersLossOptions>(name: N, options?: LayersLossOptions[N]): LayersLoss {
  checkChoice(name, 'name', ['crossEntropy', 'patchContrast', 'infoNCE', 'cflObjective'] as const, name);
  const o = { ...(options ?? {}), dataFormat: 'channelsLast' as const };
  if ((o as { reduction?: string }).reduction === 'none')
    throw new RangeError("layersLoss('crossEntropy'): reduction 'none' gives no scalar; use 'mean' or 'sum'");
  return (yTrue, yPred) => {
    checkInput(yPred, 'yPred', 'channelsLast');
    const label = labelOf(yTrue, yPred);
    switch (name) {
      case 'crossEntropy':
        return crossEntropy(yPred, classesOf(label), o as CrossEntropyTfjsOptions) as tf.Scalar;
      case 'patchContrast':
        return patchContrast(yPred, label, o as PatchContrastTfjsOptions);
      case 'infoNCE':
        return infoNCE(yPred, label, o as InfoNCETfjsOptions);
      default:
        return tf.tidy(() => {
          const logits = tf.slice(yPred, [0, 0, 0, 0], [-1, -1, -1, 2]);
          const features = tf.slice(yPred, [0, 0, 0, 2], [-1, -1, -1, -1]);
          return cflObjective(logits, features, label, o as CflObjectiveTfjsOptions);
        });
    }
  };
}
