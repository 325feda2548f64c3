// One training step per method: the only place where the example calls a loss. Each step is one
// function of the same inputs (the model, its optimizer and variables, one batch) that resolves to
// the loss before the step. They use the two-phase `minimize` of forgery-losses/tfjs (it runs the
// forward twice: once for the engine, once on the gradient tape); with synchronous ops each body
// becomes `optimizer.minimize(() => loss(model.forward(images)...), true, varList)`.

import { minimize } from 'forgery-losses/tfjs';

/** CFL-Net's class weights (pristine, forged): cflObjective's default, so (b) − (a) is exactly α · contrast. */
export const CE_WEIGHT = [0.0892, 0.9108];

/**
 * @typedef {object} StepInputs
 * @property {object} fl        the losses of forgery-losses/tfjs (tfjsLosses(engine))
 * @property {object} model     examples/train/model.mjs
 * @property {object} optimizer a tf.Optimizer
 * @property {object[]} varList the variables the method trains
 * @property {object} images    (B, 3, H, W) tensor
 * @property {object} masks     (B, H, W) float32 tensor, 1 = forged
 * @property {Int32Array} target the masks as class indices (B, H, W)
 * @property {number} step      1-based step (seeds infoNCE's pixel sample)
 * @property {object} o         { temperature, patchSize, alpha, maxPerClass }
 */

/** @type {Record<'ce' | 'cflnet' | 'focal', (s: StepInputs) => Promise<number>>} */
export const STEPS = {
  // (a) Weighted pixel cross-entropy of the 2-class head.
  ce: async ({ fl, model, optimizer, varList, images, target }) =>
    (
      await minimize(
        optimizer,
        () => model.forward(images).logits,
        (logits) => fl.crossEntropy(logits, target, { weight: CE_WEIGHT }),
        varList,
      )
    ).value,

  // (b) CFL-Net: the same cross-entropy + α · patch contrast of the features.
  cflnet: async ({ fl, model, optimizer, varList, images, masks, o }) =>
    (
      await minimize(
        optimizer,
        () => {
          const out = model.forward(images);
          return [out.logits, out.features];
        },
        ([logits, features]) =>
          fl.cflObjective(logits, features, masks, {
            weight: CE_WEIGHT,
            alpha: o.alpha,
            patchSize: o.patchSize,
            temperature: o.temperature,
          }),
        varList,
      )
    ).value,

  // (c) FOCAL: per-image InfoNCE++ of the features, a seeded sample of pixels per class and image.
  focal: async ({ fl, model, optimizer, varList, images, masks, step, o }) =>
    (
      await minimize(
        optimizer,
        () => model.forward(images).features,
        (features) =>
          fl.infoNCE(features, masks, {
            temperature: o.temperature,
            sample: { maxPerClass: o.maxPerClass, seed: step },
          }),
        varList,
      )
    ).value,
};
