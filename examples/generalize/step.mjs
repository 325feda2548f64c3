// One training step per method: the only place where the example calls a loss. Each step is one
// optimizer.minimize over a sync op of forgery-losses/tfjs (one forward pass on the gradient tape)
// and returns the loss before the step.

import { cflObjective, crossEntropy, infoNCE } from 'forgery-losses/tfjs';

/** CFL-Net's class weights (pristine, forged): cflObjective's default, so (b) − (a) is exactly α · contrast. */
export const CE_WEIGHT = [0.0892, 0.9108];

/**
 * @typedef {object} StepInputs
 * @property {object} model     examples/train/model.mjs
 * @property {object} optimizer a tf.Optimizer
 * @property {object[]} varList the variables the method trains
 * @property {object} images    (B, 3, H, W) tensor
 * @property {object} masks     (B, H, W) float32 tensor, 1 = forged
 * @property {Int32Array} target the masks as class indices (B, H, W)
 * @property {number} step      1-based step (seeds infoNCE's pixel sample)
 * @property {object} o         { temperature, patchSize, alpha, maxPerClass }
 */

/** One optimizer step of `loss` (a function giving the loss tensor); the loss before the step. */
function minimize(optimizer, varList, loss) {
  const value = optimizer.minimize(loss, true, varList);
  const out = value.dataSync()[0];
  value.dispose();
  return out;
}

/** @type {Record<'ce' | 'cflnet' | 'focal', (s: StepInputs) => number>} */
export const STEPS = {
  // (a) Weighted pixel cross-entropy of the 2-class head.
  ce: ({ model, optimizer, varList, images, target }) =>
    minimize(optimizer, varList, () => crossEntropy(model.forward(images).logits, target, { weight: CE_WEIGHT })),

  // (b) CFL-Net: the same cross-entropy + α · patch contrast of the features.
  cflnet: ({ model, optimizer, varList, images, masks, o }) =>
    minimize(optimizer, varList, () => {
      const { logits, features } = model.forward(images);
      const options = { weight: CE_WEIGHT, alpha: o.alpha, patchSize: o.patchSize, temperature: o.temperature };
      return cflObjective(logits, features, masks, options);
    }),

  // (c) FOCAL: per-image InfoNCE++ of the features, a seeded sample of pixels per class and image.
  focal: ({ model, optimizer, varList, images, masks, step, o }) =>
    minimize(optimizer, varList, () =>
      infoNCE(model.forward(images).features, masks, {
        temperature: o.temperature,
        sample: { maxPerClass: o.maxPerClass, seed: step },
      }),
    ),
};
