// patchContrast: the CFL-Net patch contrastive loss (docs/spec.md §4), image by image.

import { VARIANT_CFLNET, VARIANT_EXACT } from '../codes.js';
import type { PatchContrastResult } from '../types.js';
import { CALL_OPTIONS, checkChoice, checkFeatureInputs, checkOptions, checkPatchSize, maskImage } from '../validate.js';
import { ARENA_SLACK, checkMemoryBudget, type LossContext, type MemoryNeed } from '../runtime/context.js';
import { joinImages } from '../runtime/schedule/join.js';
import {
  type PatchContrastImage,
  type PatchContrastJob,
  partsPerImage,
  type PooledImage,
} from '../runtime/schedule/jobs.js';
import { chunkFloats, patchLabels, patchLayout, rowMap, roundUp8 } from '../runtime/wasm/layout.js';
import type { Kernels } from '../runtime/wasm/kernels.js';
import type { CopyCache } from '../runtime/copies.js';
import type { PoolAtCall, PrepareEnv } from './env.js';

const VARIANT = { exact: VARIANT_EXACT, cflnet: VARIANT_CFLNET } as const;

export const PATCH_CONTRAST_OPTIONS = [
  'features',
  'mask',
  'shape',
  'patchSize',
  'temperature',
  'variant',
  ...CALL_OPTIONS,
] as const;

/**
 * An image's features as the call took them: Z and its norms, pooled at call time (wasm engines,
 * runtime/wasm/pool-at-call.ts), or a copy of the C × H × W features (engines that may route the
 * call to WebGPU, a call made before the default engine exists, an instance out of memory).
 */
export type PatchInput = { pooled: PooledImage; features?: undefined } | { features: Float32Array; pooled?: undefined };

/** An image's patch labels (1 = forged) and each patch's row of Z (wasm/layout.ts). */
export interface PatchRows {
  labels: Uint8Array;
  rowOf: Int32Array;
  pristine: number;
}

/** A validated call with its own copies of the inputs, taken when the call was made. */
export interface PreparedPatchContrast {
  b: number;
  c: number;
  h: number;
  w: number;
  /** Per image: its features, pooled at call time or copied; its H × W float32 mask; its labels and row map. */
  inputs: PatchInput[];
  masks: Float32Array[];
  layouts: PatchRows[];
  patchSize: number;
  temperature: number;
  variant: 'exact' | 'cflnet';
  grad: boolean;
  gradInto?: Float32Array;
}

/** Validates every option and copies the inputs (so the caller may reuse its arrays at once). */
export function preparePatchContrast(
  o: Record<string, unknown>,
  env: PrepareEnv,
  defaults: { variant?: 'exact' | 'cflnet' } = {},
): PreparedPatchContrast {
  const { b, c, h, w, features, mask, temperature, grad, gradInto } = checkFeatureInputs(o);
  const hw = h * w,
    chw = c * hw;
  const prepared: PreparedPatchContrast = {
    b,
    c,
    h,
    w,
    inputs: [],
    masks: [],
    layouts: [],
    patchSize: checkPatchSize(o.patchSize, h, w),
    temperature,
    variant: checkChoice(o.variant, 'variant', ['exact', 'cflnet'] as const, defaults.variant ?? 'exact'),
    grad,
    gradInto,
  };
  for (let img = 0; img < b; img++) {
    const m = maskImage(mask, img, hw);
    prepared.masks.push(m.buffer === mask.buffer ? m.slice() : m);
    const labels = patchLabels(prepared.masks[img], h, w, prepared.patchSize);
    prepared.layouts.push({ labels, ...rowMap(labels, 8) });
  }
  // Shared memory where workers read and write one image (bands) or answer a sync call.
  const shared = env.share(b);
  const pooled = env.pool && poolImages(env.pool, env.copies, prepared, features, shared);
  if (pooled) prepared.inputs = pooled;
  else {
    const copies = Array.from({ length: b }, () => env.copies.take(chw, shared));
    env.finite(features, 'features', copies);
    prepared.inputs = copies.map((copy) => ({ features: copy }));
  }
  return prepared;
}

/** Every image pooled at call time; null where the instance cannot hold one (the call then copies them). */
function poolImages(
  pool: PoolAtCall,
  copies: CopyCache,
  p: PreparedPatchContrast,
  features: Float32Array,
  shared: boolean,
): PatchInput[] | null {
  const { c, h, w, patchSize } = p;
  // A call refused for its memory grows none (patchContrastJobs refuses it).
  if (patchContrastMemory(pool.kernels, p) > pool.maxMemoryBytes) return null;
  const inputs: PatchInput[] = [];
  for (const [img, { labels, rowOf, pristine }] of p.layouts.entries()) {
    const rows = patchLayout(labels.length, pristine).np;
    const z = copies.take(rows * roundUp8(c), shared);
    const norms = pool.image(features, img * c * h * w, { c, h, w, p: patchSize, rowOf, rows }, z);
    if (!norms) {
      copies.recycle(z, ...inputs.map((input) => input.pooled?.z));
      return null;
    }
    inputs.push({ pooled: { z, norms } });
  }
  return inputs;
}

export function parsePatchContrast(options: unknown, env: PrepareEnv): PreparedPatchContrast {
  return preparePatchContrast(checkOptions(options, 'patchContrast', PATCH_CONTRAST_OPTIONS), env);
}

/**
 * Wasm memory one image needs: the wrapper's buffers (runtime/wasm/patch-tasks.ts: the chunk of
 * channels that passes through the arena and the row map, 4 bytes per patch) and the kernel's own
 * (patchContrastKernelBytes, assembly/patch_contrast.ts).
 */
export function patchContrastMemory(k: Kernels, p: PreparedPatchContrast): MemoryNeed {
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  return chunkFloats(p.c, p.h * p.w) * 4 + 4 * n + k.patchContrastKernelBytes(n, p.c) + ARENA_SLACK;
}

/** One job per image, their memory checked; `gradScale` multiplies the batch-mean gradient. */
export function patchContrastJobs(ctx: LossContext, p: PreparedPatchContrast, gradScale = 1): PatchContrastJob[] {
  const need = patchContrastMemory(ctx.kernels, p);
  checkMemoryBudget(ctx, need, 'patchContrast (one image)');
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  return p.inputs.map(
    (input, img): PatchContrastJob => ({
      kind: 'patchContrast',
      ...input,
      ...p.layouts[img],
      c: p.c,
      h: p.h,
      w: p.w,
      patchSize: p.patchSize,
      temperature: p.temperature,
      variant: VARIANT[p.variant],
      gradScale: gradScale / (n * p.b),
      grad: p.grad,
      maxParts: partsPerImage(p.b),
      partWork: ctx.partWork,
      maxSlotFloats: ctx.maxSlotFloats,
      images: p.b,
      memoryBytes: need,
    }),
  );
}

/** The call's result from its images, reduced in image order, whatever finished first. */
export function reducePatchContrast(
  ctx: LossContext,
  p: PreparedPatchContrast,
  images: PatchContrastImage[],
): PatchContrastResult {
  const { b, c, h, w, patchSize } = p;
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
  if (p.grad) result.grad = { features: joinImages(images, c * h * w, ctx.copies, p.gradInto) };
  return result;
}
