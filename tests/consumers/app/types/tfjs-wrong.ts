// Wrong uses of forgery-losses/tfjs: each marked line must be a type error.
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, infoNCE } from 'forgery-losses/tfjs';

const features = tf.zeros([2, 4, 8, 8]);
const masks = tf.zeros([2, 8, 8]);

// @ts-expect-error features must be a tensor
await infoNCE(new Float32Array(8), masks);
// @ts-expect-error an unknown option
await infoNCE(features, masks, { temprature: 0.1 });
// @ts-expect-error reduction 'none' gives no scalar to differentiate
await crossEntropy(features, masks, { reduction: 'none' });
const loss = await infoNCE(features, masks);
// @ts-expect-error value is a number
export const text: string = loss.value;
