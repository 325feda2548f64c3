// Wrong uses of forgery-losses/tfjs: each marked line must be a type error.
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, infoNCE, layersLoss, ready } from 'forgery-losses/tfjs';

const features = tf.zeros([2, 4, 8, 8]);
const masks = tf.zeros([2, 8, 8]);

// @ts-expect-error an unknown engine option
await ready({ thread: 2 });
// @ts-expect-error features must be a tensor
infoNCE(new Float32Array(8), masks);
// @ts-expect-error an unknown option
infoNCE(features, masks, { temprature: 0.1 });
// @ts-expect-error a layout tfjs-layers does not name
infoNCE(features, masks, { dataFormat: 'NHWC' });
// @ts-expect-error an op is synchronous: no signal
crossEntropy(features, masks, { signal: new AbortController().signal });
// @ts-expect-error a loss this package does not have
layersLoss('dice');
// @ts-expect-error an option of another loss
layersLoss('patchContrast', { positive: 'mean-exp' });
// @ts-expect-error the op gives a tensor, not a number
export const value: number = infoNCE(features, masks);
