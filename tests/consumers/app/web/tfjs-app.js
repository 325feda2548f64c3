// forgery-losses/tfjs in a browser bundle: its `browser` export goes through the browser entry. On
// a page's main thread the sync op runs in the calling thread (and the engine says so).
import * as tf from '@tensorflow/tfjs';
import { infoNCE, ready } from 'forgery-losses/tfjs';

const features = tf.randomNormal([2, 4, 16, 16]);
const masks = tf.concat([tf.zeros([2, 16, 10]), tf.ones([2, 16, 6])], 2);
ready().then(
  (engine) => {
    const w = tf.variable(features);
    const { value, grads } = tf.variableGrads(() => infoNCE(w, masks));
    window.__result = {
      loss: value.dataSync()[0],
      gradFinite: grads[w.name].dataSync().every(Number.isFinite),
      syncThreads: engine.info.syncThreads,
      failures: [],
    };
  },
  (error) => {
    window.__result = { failures: [String(error?.stack ?? error)] };
  },
);
