// cflObjective: the CFL-Net training loss (docs/spec.md §6) — weighted cross-entropy on (B, 2, H, W)
// logits against the truncated mask, plus alpha × patchContrast('cflnet').

import type { LossContext } from '../runtime/context.js';
import type { CflObjectiveResult, CrossEntropyResult, PatchContrastResult } from '../types.js';
import { CALL_OPTIONS, checkOptions, optionalNumber } from '../validate.js';
import { checkCrossEntropyMemory, ownInputs, type ParsedCrossEntropy, parseCrossEntropy } from './crossEntropy.js';
import type { PrepareEnv } from './env.js';
import { type PreparedPatchContrast, patchContrastJobs, preparePatchContrast } from './patchContrast.js';

export const CFL_WEIGHT: readonly [number, number] = [0.0892, 0.9108];
const MAX_ALPHA = 1e12;

export const CFL_OBJECTIVE_OPTIONS = [
  'logits',
  'features',
  'mask',
  'shape',
  'weight',
  'alpha',
  'patchSize',
  'temperature',
  ...CALL_OPTIONS,
] as const;

/** Both parts validated, and their inputs copied, before any work. */
export interface PreparedCflObjective {
  contrast: PreparedPatchContrast;
  ce: ParsedCrossEntropy;
  alpha: number;
}

export function checkAlpha(value: unknown): number {
  const alpha = optionalNumber(value, 'alpha', 1);
  if (!Number.isFinite(alpha)) throw new RangeError(`alpha must be finite; got ${alpha}`);
  // alpha scales the float32 gradient (up to ~1e12/t for a zero vector): keep it from overflowing.
  if (Math.abs(alpha) > MAX_ALPHA)
    throw new RangeError(`alpha must lie in [-1e12, 1e12] (the float32 gradient overflows beyond); got ${alpha}`);
  return alpha;
}

export function prepareCflObjective(options: unknown, env: PrepareEnv): PreparedCflObjective {
  const o = checkOptions(options, 'cflObjective', CFL_OBJECTIVE_OPTIONS);
  const gradInto = o.gradInto;
  const { features, logits } = (gradInto ?? {}) as { features?: unknown; logits?: unknown };
  if (gradInto !== undefined) checkOptions(gradInto, 'gradInto', ['logits', 'features']);
  const contrast = preparePatchContrast({ ...o, logits: undefined, gradInto: features && { features } }, env, {
    variant: 'cflnet',
  });
  const { b, h, w } = contrast;
  const alpha = checkAlpha(o.alpha);
  // trunc(mask): only an exact 1 is class 1 (docs/spec.md §6).
  const target = new Uint8Array(b * h * w);
  contrast.masks.forEach((mask, img) => {
    for (let i = 0; i < mask.length; i++) target[img * h * w + i] = mask[i] === 1 ? 1 : 0;
  });
  const ce = parseCrossEntropy({
    logits: o.logits,
    shape: [b, 2, h, w],
    target,
    weight: o.weight === undefined ? CFL_WEIGHT : o.weight,
    reduction: 'mean',
    grad: o.grad,
    gradInto: logits && { logits },
  });
  // The cross-entropy runs after the contrastive part: its logits are checked now, and copied.
  env.finite(ce.logits, 'logits');
  return { contrast, ce: ownInputs(ce), alpha };
}

/** The jobs of the contrastive part; both parts' memory is checked here, before any work. */
export function cflObjectiveJobs(ctx: LossContext, p: PreparedCflObjective) {
  const jobs = patchContrastJobs(ctx, p.contrast, p.alpha);
  checkCrossEntropyMemory(ctx, p.ce);
  return jobs;
}

export function combineCflObjective(
  ctx: LossContext,
  p: PreparedCflObjective,
  contrast: PatchContrastResult,
  ce: CrossEntropyResult,
): CflObjectiveResult {
  const ceLoss = ce.loss as number;
  const result: CflObjectiveResult = {
    loss: ceLoss + p.alpha * contrast.loss,
    ceLoss,
    contrastLoss: contrast.loss,
    backend: ctx.backend,
  };
  if (ce.grad && contrast.grad) result.grad = { logits: ce.grad.logits, features: contrast.grad.features };
  return result;
}
