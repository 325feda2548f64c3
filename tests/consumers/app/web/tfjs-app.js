// forgery-losses/tfjs in a browser bundle: its `browser` export goes through the browser entry.
import * as tf from '@tensorflow/tfjs';
import { infoNCE } from 'forgery-losses/tfjs';

const features = tf.randomNormal([2, 4, 16, 16]);
const masks = tf.concat([tf.zeros([2, 16, 10]), tf.ones([2, 16, 6])], 2);
infoNCE(features, masks).then(
  (loss) => {
    window.__result = { loss: loss.value, failures: [] };
  },
  (error) => {
    window.__result = { failures: [String(error?.stack ?? error)] };
  },
);
