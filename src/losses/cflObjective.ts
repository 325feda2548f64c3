// cflObjective: the CFL-Net training loss (spec section 6) — weighted cross-entropy on (B, 2, H, W)
// logits against the truncated mask, plus alpha × patchContrast('cflnet').

import type { CflObjectiveOptions, CflObjectiveResult } from '../types';
import { checkBoolean, checkFloat32, checkOptions, optionalNumber } from '../validate';
import type { WasmContext } from './context';
import { runCrossEntropy } from './crossEntropy';
import { parsePatchContrast, runPatchContrast } from './patchContrast';

const CFL_WEIGHT: readonly [number, number] = [0.0892, 0.9108];
const MAX_ALPHA = 1e12;

export async function runCflObjective(ctx: WasmContext, options: CflObjectiveOptions): Promise<CflObjectiveResult> {
  const o = checkOptions(options, 'cflObjective');
  const pc = parsePatchContrast({ ...o, variant: 'cflnet' });
  const { b, h, w } = pc;
  const logits = checkFloat32(o.logits, 'logits', b * 2 * h * w);
  const alpha = optionalNumber(o.alpha, 'alpha', 1);
  if (!Number.isFinite(alpha)) throw new RangeError(`alpha must be finite; got ${alpha}`);
  // alpha scales the float32 gradient (up to ~1e12/t for a zero vector): keep it from overflowing.
  if (Math.abs(alpha) > MAX_ALPHA)
    throw new RangeError(`alpha must lie in [-1e12, 1e12] (the float32 gradient overflows beyond); got ${alpha}`);
  const weight = o.weight === undefined ? CFL_WEIGHT : (o.weight as readonly number[]);
  const grad = checkBoolean(o.grad, 'grad', true);
  // trunc(mask): only an exact 1 is class 1 (spec section 6).
  const target = new Uint8Array(b * h * w);
  for (let i = 0; i < target.length; i++) target[i] = pc.mask[i] === 1 ? 1 : 0;
  const contrast = await runPatchContrast(ctx, pc, alpha);
  const ce = await runCrossEntropy(ctx, { logits, shape: [b, 2, h, w], target, weight, reduction: 'mean', grad });
  const ceLoss = ce.loss as number;
  const result: CflObjectiveResult = {
    loss: ceLoss + alpha * contrast.loss,
    ceLoss,
    contrastLoss: contrast.loss,
    backend: ctx.backend,
  };
  if (grad)
    result.grad = {
      logits: (ce.grad as { logits: Float32Array }).logits,
      features: (contrast.grad as { features: Float32Array }).features,
    };
  return result;
}
