// A small convolutional feature extractor in TF.js: per-pixel features at full resolution.
//
//   RGB (B, 3, H, W) ─ high-pass residual (x − 3×3 mean, ×10) ─ conv3×3 16 ─ ReLU ─ conv3×3 24 ─ ReLU
//     ─ conv3×3 24 ─ |·| ─ avgPool 5×5 ─ log ─ instance norm ─ conv1×1 32 ─ ReLU
//       ├ conv1×1 D ─ instance norm → features (B, D, H, W), NCHW for forgery-losses/tfjs
//       └ conv1×1 2                 → logits (B, 2, H, W)   (the CFL-Net head)
//
// The fixed residual front end (as SRM/Bayar layers do in forensic networks) removes most of the
// content; the convolutions learn filters whose pooled log-magnitudes are local statistics: noise
// level, sharpness, 8×8 blocking. Receptive field 13×13. Instance norm of the features (zero mean,
// unit variance per image and channel) keeps the contrastive loss off its collapsed stationary
// point, where every pixel has the same feature and cosine similarities give no gradient.
//
// tfjs-backend-wasm has Conv2D but no Conv2DBackpropFilter (and the cpu backend's is very slow),
// so conv() is a tf.customGrad whose gradients are convolutions themselves (see below).

import * as tf from '@tensorflow/tfjs-core';

/**
 * 'same' convolution, stride 1, odd k, NHWC, with both gradients as tf.conv2d calls:
 *   dx = conv(dy, w rotated 180° with in/out swapped)                      ('same')
 *   dW = conv(x padded, as C_in images of B channels; dy as an H×W filter) ('valid', k×k out)
 */
export const conv = tf.customGrad((x, w, save) => {
  save([x, w]);
  return {
    value: tf.conv2d(x, w, 1, 'same'),
    gradFunc: (dy, [x, w]) => {
      const [k] = w.shape;
      const r = (k - 1) / 2;
      const dx = tf.conv2d(dy, tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]), 1, 'same');
      const xp = tf.transpose(
        tf.pad(x, [
          [0, 0],
          [r, r],
          [r, r],
          [0, 0],
        ]),
        [3, 1, 2, 0],
      );
      const dw = tf.transpose(tf.conv2d(xp, tf.transpose(dy, [1, 2, 0, 3]), 1, 'valid'), [1, 2, 0, 3]);
      return [dx, dw];
    },
  };
});

/** Per image and channel: zero mean, unit variance over the pixels (NHWC). */
function instanceNorm(x) {
  const { mean, variance } = tf.moments(x, [1, 2], true);
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
}

function heNormal(rand, shape, fanIn) {
  const n = shape.reduce((a, b) => a * b, 1),
    out = new Float32Array(n),
    s = Math.sqrt(2 / fanIn);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(rand(), 1e-12),
      v = rand(),
      m = Math.sqrt(-2 * Math.log(u)) * s;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return tf.tensor(out, shape);
}

/** The model's variables, seeded. `dim`: feature channels D. */
export function createModel(rand, { dim = 16 } = {}) {
  const layer = (name, k, cin, cout) => ({
    w: tf.variable(heNormal(rand, [k, k, cin, cout], k * k * cin), true, `${name}/w`),
    b: tf.variable(tf.zeros([cout]), true, `${name}/b`),
  });
  const layers = {
    c1: layer('c1', 3, 3, 16),
    c2: layer('c2', 3, 16, 24),
    c3: layer('c3', 3, 24, 24),
    c4: layer('c4', 1, 24, 32),
    feat: layer('feat', 1, 32, dim),
    logit: layer('logit', 1, 32, 2),
  };
  const apply = (x, l) => tf.add(conv(x, l.w), l.b);
  /** (B, 3, H, W) images in [0, 1] → { features: (B, D, H, W), logits: (B, 2, H, W) }, both NCHW. */
  function forward(images) {
    const rgb = tf.transpose(images, [0, 2, 3, 1]);
    // Fixed high-pass front end: the residual of a 3×3 mean filter, scaled up (noise of σ 0.01 becomes ~0.1).
    const x = tf.mul(tf.sub(rgb, tf.avgPool(rgb, 3, 1, 'same')), 10);
    let h = tf.relu(apply(x, layers.c1));
    h = tf.relu(apply(h, layers.c2));
    h = instanceNorm(tf.log(tf.add(tf.avgPool(tf.abs(apply(h, layers.c3)), 5, 1, 'same'), 1e-3)));
    h = tf.relu(apply(h, layers.c4));
    const nchw = (t) => tf.transpose(t, [0, 3, 1, 2]);
    return { features: nchw(instanceNorm(apply(h, layers.feat))), logits: nchw(apply(h, layers.logit)) };
  }
  const variables = Object.values(layers).flatMap((l) => [l.w, l.b]);
  const trunk = variables.filter((v) => !v.name.startsWith('logit/'));
  return { forward, variables, trunk, dispose: () => tf.dispose(variables) };
}
