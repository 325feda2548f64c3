// patchContrast: the CFL-Net patch contrastive loss (docs/spec.md §4), image by image.

import type { PatchContrastResult } from '../types.js';
import {
  CALL_OPTIONS,
  checkBoolean,
  checkCallOptions,
  checkChoice,
  checkFloat32,
  checkGradInto,
  checkMask,
  checkOptions,
  checkPatchSize,
  checkShape,
  checkTemperature,
  type FiniteCheck,
  maskImage,
} from '../validate.js';
import { ARENA_SLACK, checkMemoryBudget, type LossContext, type MemoryNeed } from '../runtime/context.js';
import type { CallControl } from '../runtime/control.js';
import { countPristine, type PatchContrastImage, type PatchContrastJob, partsPerImage } from '../runtime/jobs.js';
import { joinImages } from '../runtime/image.js';
import { takeArray } from '../runtime/recycle.js';
import type { Kernels } from '../runtime/kernels.js';
import { chunkFloats } from '../runtime/tasks.js';

const VARIANT = { exact: 0, cflnet: 1 } as const;

export const PATCH_CONTRAST_OPTIONS = [
  'features',
  'mask',
  'shape',
  'patchSize',
  'temperature',
  'variant',
  ...CALL_OPTIONS,
] as const;

/** A validated call with its own copies of the inputs, taken when the call was made. */
export interface PreparedPatchContrast {
  b: number;
  c: number;
  h: number;
  w: number;
  /** Per image: C × H × W features and the H × W float32 mask. */
  features: Float32Array[];
  masks: Float32Array[];
  patchSize: number;
  temperature: number;
  variant: 'exact' | 'cflnet';
  grad: boolean;
  gradInto?: Float32Array;
}

/**
 * Validates every option and copies the inputs (so the caller may reuse its arrays at once).
 * `splitThreads`: the worker threads that would split an image into bands (runtime/bands.ts); with
 * more of them than images, the features copies go to shared memory, which the bands need.
 */
export function preparePatchContrast(
  o: Record<string, unknown>,
  finite: FiniteCheck,
  defaults: { variant?: 'exact' | 'cflnet' } = {},
  splitThreads = 1,
): PreparedPatchContrast {
  const [b, c, h, w] = checkShape(o.shape);
  const hw = h * w,
    chw = c * hw;
  const features = checkFloat32(o.features, 'features', b * chw);
  const mask = checkMask(o.mask, 'mask', b * hw);
  const grad = checkBoolean(o.grad, 'grad', true);
  const prepared: PreparedPatchContrast = {
    b,
    c,
    h,
    w,
    features: [],
    masks: [],
    patchSize: checkPatchSize(o.patchSize, h, w),
    temperature: checkTemperature(o.temperature),
    variant: checkChoice(o.variant, 'variant', ['exact', 'cflnet'] as const, defaults.variant ?? 'exact'),
    grad,
    gradInto: checkGradInto(o.gradInto, { features: b * chw }).features,
  };
  checkCallOptions(o);
  prepared.features = Array.from({ length: b }, () => takeArray(chw, splitThreads > b));
  finite(features, 'features', prepared.features);
  for (let img = 0; img < b; img++) {
    const m = maskImage(mask, img, hw);
    prepared.masks.push(m.buffer === mask.buffer ? m.slice() : m);
  }
  return prepared;
}

export function parsePatchContrast(options: unknown, finite: FiniteCheck, splitThreads = 1): PreparedPatchContrast {
  return preparePatchContrast(checkOptions(options, 'patchContrast', PATCH_CONTRAST_OPTIONS), finite, {}, splitThreads);
}

/**
 * Wasm memory one image needs: the wrapper's buffers (runtime/tasks.ts: the chunk of channels that
 * passes through the arena, the float32 mask, labels and the row map, 5 bytes per patch) and the
 * kernel's own (patchContrastKernelBytes, assembly/patch_contrast.ts).
 */
export function patchContrastMemory(k: Kernels, p: PreparedPatchContrast): MemoryNeed {
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  const features = chunkFloats(p.c, p.h * p.w) * 4,
    mask = p.h * p.w * 4;
  return features + mask + 5 * n + k.patchContrastKernelBytes(n, p.c) + ARENA_SLACK;
}

/** One job per image, their memory checked; `gradScale` multiplies the batch-mean gradient. */
export function patchContrastJobs(ctx: LossContext, p: PreparedPatchContrast, gradScale = 1): PatchContrastJob[] {
  const need = patchContrastMemory(ctx.kernels, p);
  checkMemoryBudget(ctx, need, 'patchContrast (one image)');
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  return p.features.map((features, img) => ({
    kind: 'patchContrast',
    features,
    mask: p.masks[img],
    c: p.c,
    h: p.h,
    w: p.w,
    patchSize: p.patchSize,
    temperature: p.temperature,
    variant: VARIANT[p.variant],
    gradScale: gradScale / (n * p.b),
    grad: p.grad,
    pristine: countPristine(p.masks[img], p.h, p.w, p.patchSize),
    maxParts: partsPerImage(p.b),
    images: p.b,
    memoryBytes: need,
  }));
}

/** Runs the jobs of a call and reduces them in image order, whatever finished first. */
export async function runPatchContrast(
  ctx: LossContext,
  p: PreparedPatchContrast,
  jobs: PatchContrastJob[],
  control: CallControl,
): Promise<PatchContrastResult> {
  const images = (await Promise.all(jobs.map((job) => ctx.executor.run(job, control)))) as PatchContrastImage[];
  const { b, c, h, w, patchSize } = p;
  const chw = c * h * w;
  const kh = h / patchSize,
    kw = w / patchSize,
    n = kh * kw;
  const perImageLoss = new Float64Array(b);
  const perPatchLoss = new Float32Array(b * n);
  const patchLabels = new Uint8Array(b * n);
  let loss = 0;
  images.forEach((image, img) => {
    perImageLoss[img] = image.loss;
    loss += image.loss;
    perPatchLoss.set(image.perPatch, img * n);
    patchLabels.set(image.labels, img * n);
  });
  const result: PatchContrastResult = {
    loss: loss / b,
    perImageLoss,
    perPatchLoss,
    patchLabels,
    grid: [kh, kw],
    backend: ctx.backend,
  };
  if (p.grad) result.grad = { features: joinImages(images, b, chw, p.gradInto) };
  return result;
}
