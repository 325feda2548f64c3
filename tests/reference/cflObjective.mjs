// Float64 test oracle for the CFL-Net training objective (docs/spec.md §6):
// weighted CE on trunc(mask) + alpha · patch_contrast('cflnet'). Never shipped.
import { crossEntropyRef } from './crossEntropy.mjs';
import { patchContrastRef } from './patchContrast.mjs';

/**
 * @param {{logits: ArrayLike<number>, features: ArrayLike<number>, mask: ArrayLike<number>,
 *   shape: number[], weight?: number[], alpha?: number, patchSize?: number, temperature?: number,
 *   frozenColumnMax?: ArrayLike<number>}} opts  shape is that of features; logits are (B, 2, H, W).
 *   frozenColumnMax, cflnetGradient: passed to patchContrastRef (see there).
 * @returns {{loss: number, ceLoss: number, contrastLoss: number, ceTarget: Int32Array,
 *   patchLabels: Uint8Array, perImageContrastLoss: Float64Array, perPatchContrastLoss: Float64Array,
 *   columnMax: Float64Array, gradLogits: Float64Array, gradFeatures: Float64Array}}
 */
export function cflObjectiveRef({
  logits,
  features,
  mask,
  shape,
  weight = [0.0892, 0.9108],
  alpha = 1,
  patchSize = 4,
  temperature = 0.1,
  frozenColumnMax,
  cflnetGradient,
}) {
  const [B, , H, W] = shape;
  // tensor.long() truncates toward zero: only a mask value of exactly 1.0 is class 1.
  const ceTarget = Int32Array.from(mask, (m) => Math.trunc(Number(m)));
  const ce = crossEntropyRef({ logits, shape: [B, 2, H, W], target: ceTarget, weight, reduction: 'mean' });
  const contrast = patchContrastRef({
    features,
    mask,
    shape,
    patchSize,
    temperature,
    variant: 'cflnet',
    frozenColumnMax,
    cflnetGradient,
  });
  return {
    loss: ce.loss + alpha * contrast.loss,
    ceLoss: ce.loss,
    contrastLoss: contrast.loss,
    ceTarget,
    patchLabels: contrast.patchLabels,
    perImageContrastLoss: contrast.perImageLoss,
    perPatchContrastLoss: contrast.perPatchLoss,
    columnMax: contrast.columnMax,
    gradLogits: ce.grad,
    gradFeatures: contrast.grad.map((g) => alpha * g),
  };
}
