// Checks one result against its golden case (every field docs/spec.md §2 lists for that loss).
import { assertArrayClose, assertClose, assertExact, assertGradClose } from './compare.mjs';

/** Returns the worst errors seen: { loss, grad } (relative measures of docs/spec.md §8). */
export function checkAgainstGolden(c, r) {
  const e = c.expected,
    noise = c.gradient_is_rounding_noise;
  const worst = { loss: 0, grad: 0 };
  const grad = (a, exp, what) => {
    worst.grad = Math.max(worst.grad, assertGradClose(a, exp, what, { noise }));
  };
  switch (c.loss) {
    case 'cross_entropy':
      if (Array.isArray(e.loss)) worst.loss = assertArrayClose(r.loss, e.loss, 'loss');
      else worst.loss = assertClose(r.loss, e.loss, 'loss');
      grad(r.grad.logits, e.grad.logits, 'grad.logits');
      break;
    case 'patch_contrast':
      worst.loss = assertClose(r.loss, e.loss, 'loss');
      assertArrayClose(r.perImageLoss, e.per_image_loss, 'perImageLoss');
      assertArrayClose(r.perPatchLoss, e.per_patch_loss, 'perPatchLoss');
      assertExact(r.patchLabels, e.patch_labels, 'patchLabels');
      assertExact(r.grid, e.patch_grid, 'grid');
      grad(r.grad.features, e.grad.features, 'grad.features');
      break;
    case 'info_nce':
      worst.loss = assertClose(r.loss, e.loss, 'loss');
      assertExact([r.numUsedImages], [e.num_used_images], 'numUsedImages');
      assertExact(r.usedImages, e.used_images, 'usedImages');
      assertExact(r.queryCounts.flat(), e.query_counts.flat(), 'queryCounts');
      e.per_image_loss.forEach((v, b) => {
        if (v === null) assertExact([r.perImageLoss[b]], [null], `perImageLoss[${b}]`);
        else assertClose(r.perImageLoss[b], v, `perImageLoss[${b}]`);
      });
      e.per_query_loss.forEach((v, b) => {
        if (v !== null) assertArrayClose(r.perQueryLoss[b], v, `perQueryLoss[${b}]`);
      });
      grad(r.grad.features, e.grad.features, 'grad.features');
      break;
    case 'cfl_objective':
      worst.loss = assertClose(r.loss, e.loss, 'loss');
      assertClose(r.ceLoss, e.ce_loss, 'ceLoss');
      assertClose(r.contrastLoss, e.contrast_loss, 'contrastLoss');
      grad(r.grad.logits, e.grad.logits, 'grad.logits');
      grad(r.grad.features, e.grad.features, 'grad.features');
      break;
  }
  return worst;
}
