// A sync call on the device (docs/webgpu.md): its options checked and its CPU data (masks,
// targets, samples) read here, as on every backend; then its passes recorded and submitted in one
// go, the loss and gradient left in buffers of the engine's. Nothing waits for the GPU.

import { CFL_OBJECTIVE_OPTIONS, CFL_WEIGHT, checkAlpha } from '../../losses/cflObjective.js';
import { CROSS_ENTROPY_OPTIONS, normalizerSync, parseCrossEntropyWith } from '../../losses/crossEntropy.js';
import { batchCounts, stackSets } from '../../losses/batchScope.js';
import { buildSets, INFO_NCE_OPTIONS } from '../../losses/infoNCE.js';
import { PATCH_CONTRAST_OPTIONS } from '../../losses/patchContrast.js';
import type { LossContext } from '../../runtime/context.js';
import { gradScaleOf } from '../../runtime/wasm/ce-tasks.js';
import type {
  CflObjectiveDeviceResult,
  CrossEntropyDeviceResult,
  InfoNCEDeviceResult,
  PatchContrastDeviceResult,
} from '../../types.js';
import { checkChoice, checkFeatureInputs, checkOptions, checkPatchSize, type FiniteCheck } from '../../validate.js';
import type { CeInputs } from '../ce-job.js';
import type { GpuRuntime } from '../device.js';
import type { LossName } from '../select.js';
import { crossEntropyOnDevice } from './ce.js';
import { DeviceCall } from './device-call.js';
import { deviceFloats } from './inputs.js';
import { type DeviceInfoNCE, infoNCEOnDevice, isUsed } from './nce.js';
import { type DevicePatchContrast, labelsOf, patchContrastOnDevice } from './patch.js';

export { isGpuData } from './inputs.js';

/** A call's options, strict, without `gradInto` (a call on the device returns the engine's buffers). */
function optionsOn(options: unknown, loss: LossName, known: readonly string[]): Record<string, unknown> {
  const o = checkOptions(options, `${loss}Sync`, known);
  if (o.gradInto !== undefined)
    throw new TypeError(
      `${loss}Sync on the device takes no gradInto: the gradient comes in a buffer of the engine's (docs/webgpu.md)`,
    );
  return o;
}

/** A checked call: how many loss parts it has, and how to record it. */
interface Planned<R> {
  slots: number;
  encode(call: DeviceCall): R;
}

function preparePatchContrast(o: Record<string, unknown>, finite: FiniteCheck, variant?: 'cflnet') {
  const { b, c, h, w, features, mask, temperature, grad } = checkFeatureInputs(o, deviceFloats(finite));
  const patchSize = checkPatchSize(o.patchSize, h, w);
  const p: DevicePatchContrast = {
    ...{ b, c, h, w, features, patchSize, temperature, grad },
    variant: variant ?? checkChoice(o.variant, 'variant', ['exact', 'cflnet'] as const, 'exact'),
    labels: labelsOf(mask, [b, h, w], patchSize),
  };
  return { p, mask };
}

function patchContrast(o: Record<string, unknown>, finite: FiniteCheck): Planned<PatchContrastDeviceResult> {
  const { p } = preparePatchContrast(o, finite);
  return {
    slots: p.b,
    encode(call) {
      const grad = p.grad ? call.output('grad:features', p.b * p.c * p.h * p.w) : undefined;
      patchContrastOnDevice(call, p, 1, grad);
      const grid: [number, number] = [p.h / p.patchSize, p.w / p.patchSize];
      const loss = call.finish();
      return { loss, patchLabels: p.labels, grid, ...(grad && { grad: { features: grad } }), backend: 'webgpu' };
    },
  };
}

function infoNCE(o: Record<string, unknown>, finite: FiniteCheck): Planned<InfoNCEDeviceResult> {
  const { b, c, h, w, features, mask, temperature, grad } = checkFeatureInputs(o, deviceFloats(finite));
  const hw = h * w;
  const positive = checkChoice(o.positive, 'positive', ['mean-logit', 'mean-exp'] as const, 'mean-logit');
  const scope = checkChoice(o.scope, 'scope', ['image', 'batch'] as const, 'image');
  const sets = scope === 'batch' ? stackSets(mask, b, hw, o.sample, buildSets) : buildSets(mask, b, hw, o.sample);
  const p: DeviceInfoNCE = { b, c, hw, features, temperature, positive, scope, ...sets, grad };
  const counts = sets.queries.map((q, d): [number, number] => [q.length, sets.negatives[d].length]);
  // Scope 'batch' reports per image, as on every backend.
  const { queryCounts, usedImages } =
    scope === 'batch'
      ? batchCounts(sets.queries[0], sets.negatives[0], b, hw, isUsed(...counts[0]))
      : { queryCounts: counts, usedImages: counts.map(([j, m]) => isUsed(j, m)) };
  return {
    slots: sets.queries.length,
    encode(call) {
      const out = grad ? call.output('grad:features', b * c * hw) : undefined;
      infoNCEOnDevice(call, p, out);
      const loss = call.finish();
      const numUsedImages = usedImages.filter(Boolean).length;
      return {
        loss,
        numUsedImages,
        usedImages,
        queryCounts,
        ...(out && { grad: { features: out } }),
        backend: 'webgpu',
      };
    },
  };
}

/** Cross-entropy's inputs on the device, its targets checked (and the 'mean' normalizer found) on wasm. */
function ceInputs(ctx: LossContext, o: Record<string, unknown>, finite: FiniteCheck) {
  const p = parseCrossEntropyWith(o, deviceFloats(finite));
  const normalizer = normalizerSync(ctx, p);
  const target = p.target && (p.target instanceof Int32Array ? p.target : Int32Array.from(p.target));
  const inputs: CeInputs = {
    ...{ b: p.b, c: p.c, hw: p.hw, ignoreIndex: p.ignoreIndex, smoothing: p.smoothing, grad: p.grad },
    ...{ perElement: p.reduction === 'none', logits: p.logits, target, probs: p.targetProbs },
    weights: Float32Array.from(p.weight),
    gradScale: gradScaleOf(p.reduction, normalizer),
  };
  // The loss of 'mean' divides by the normalizer (0: NaN, as on wasm); 'sum' does not.
  return { inputs, reduction: p.reduction, scale: p.reduction === 'mean' ? 1 / normalizer : 1 };
}

function crossEntropy(
  ctx: LossContext,
  o: Record<string, unknown>,
  finite: FiniteCheck,
): Planned<CrossEntropyDeviceResult> {
  const { inputs: p, reduction, scale } = ceInputs(ctx, o, finite);
  return {
    slots: 1,
    encode(call) {
      const grad = p.grad ? call.output('grad:logits', p.b * p.c * p.hw) : undefined;
      const per = reduction === 'none' ? call.output('perElement', p.b * p.hw) : undefined;
      crossEntropyOnDevice(call, p, scale, 0, { grad, per });
      let loss = call.finish();
      if (per) {
        call.nanIfBad(per, p.b * p.hw);
        call.rec.flush();
        loss = per;
      }
      return { loss, ...(grad && { grad: { logits: grad } }), backend: 'webgpu' };
    },
  };
}

function cflObjective(
  ctx: LossContext,
  o: Record<string, unknown>,
  finite: FiniteCheck,
): Planned<CflObjectiveDeviceResult> {
  const { p: contrast, mask } = preparePatchContrast({ ...o, logits: undefined }, finite, 'cflnet');
  const { b, c, h, w } = contrast;
  const alpha = checkAlpha(o.alpha);
  // trunc(mask): only an exact 1 is class 1 (docs/spec.md §6).
  const target = new Uint8Array(b * h * w);
  for (let i = 0; i < target.length; i++) target[i] = mask[i] === 1 ? 1 : 0;
  const weight = o.weight === undefined ? CFL_WEIGHT : o.weight;
  const { inputs, scale } = ceInputs(
    ctx,
    { logits: o.logits, shape: [b, 2, h, w], target, weight, grad: o.grad },
    finite,
  );
  return {
    slots: b + 1,
    encode(call) {
      const grad = contrast.grad
        ? { logits: call.output('grad:logits', b * 2 * h * w), features: call.output('grad:features', b * c * h * w) }
        : undefined;
      patchContrastOnDevice(call, contrast, alpha, grad?.features);
      crossEntropyOnDevice(call, inputs, scale, b, { grad: grad?.logits });
      return { loss: call.finish(), ...(grad && { grad }), backend: 'webgpu' };
    },
  };
}

/** A call's checks and CPU work, done before anything is recorded. */
function plan(loss: LossName, ctx: LossContext, o: Record<string, unknown>, finite: FiniteCheck): Planned<unknown> {
  switch (loss) {
    case 'patchContrast':
      return patchContrast(o, finite);
    case 'infoNCE':
      return infoNCE(o, finite);
    case 'crossEntropy':
      return crossEntropy(ctx, o, finite);
    case 'cflObjective':
      return cflObjective(ctx, o, finite);
  }
}

const KNOWN = {
  crossEntropy: CROSS_ENTROPY_OPTIONS,
  patchContrast: PATCH_CONTRAST_OPTIONS,
  infoNCE: INFO_NCE_OPTIONS,
  cflObjective: CFL_OBJECTIVE_OPTIONS,
} as const;

/** Runs a sync call whose inputs are GPU buffers of the runtime's device. */
export function runOnDevice(
  runtime: GpuRuntime,
  ctx: LossContext,
  loss: LossName,
  options: unknown,
  finite: FiniteCheck,
): unknown {
  const planned = plan(loss, ctx, optionsOn(options, loss, KNOWN[loss]), finite);
  return runtime.runSync((session) => session.encode(() => planned.encode(new DeviceCall(session, planned.slots))));
}
