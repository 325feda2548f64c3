// patchContrast: the CFL-Net patch contrastive loss (spec section 4), image by image.

import type { PatchContrastOptions, PatchContrastResult } from '../types';
import {
  checkBoolean,
  checkChoice,
  checkFloat32,
  checkMask,
  checkOptions,
  checkPatchSize,
  checkShape,
  checkTemperature,
  maskImage,
} from '../validate';
import { ARENA_SLACK, checkMemoryBudget, type MemoryNeed, roundUp8, type WasmContext } from './context';
import type { PatchContrastImage, PatchContrastJob } from './imageJobs';

const VARIANT = { exact: 0, cflnet: 1 } as const;
const STRIP_ROWS = 32;

export interface ParsedPatchContrast {
  b: number;
  c: number;
  h: number;
  w: number;
  features: Float32Array;
  mask: PatchContrastOptions['mask'];
  patchSize: number;
  temperature: number;
  variant: 'exact' | 'cflnet';
  grad: boolean;
}

export function parsePatchContrast(
  options: PatchContrastOptions | Record<string, unknown>,
  defaults: { variant?: 'exact' | 'cflnet' } = {},
): ParsedPatchContrast {
  const o = checkOptions(options, 'patchContrast');
  const [b, c, h, w] = checkShape(o.shape);
  return {
    b,
    c,
    h,
    w,
    features: checkFloat32(o.features, 'features', b * c * h * w),
    mask: checkMask(o.mask, 'mask', b * h * w),
    patchSize: checkPatchSize(o.patchSize, h, w),
    temperature: checkTemperature(o.temperature),
    variant: checkChoice(o.variant, 'variant', ['exact', 'cflnet'] as const, defaults.variant ?? 'exact'),
    grad: checkBoolean(o.grad, 'grad', true),
  };
}

/**
 * Wasm memory one image needs. Wrapper (imageJobs.ts): the features (the gradient overwrites
 * them), the float32 mask, per-patch losses and labels (5 bytes per patch). Kernel: row maps
 * (8 per patch), Z, its panels and dZ (N_p × C_p float32 each), norms (8 per row), one strip of
 * similarities, column maxima and three row statistics (16 per row).
 */
export function patchContrastMemory(p: ParsedPatchContrast): MemoryNeed {
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  const np = roundUp8(n),
    cp = roundUp8(p.c);
  const features = p.c * p.h * p.w * 4,
    mask = p.h * p.w * 4,
    matrix = np * cp * 4,
    strip = STRIP_ROWS * np * 4;
  return features + mask + 13 * n + 3 * matrix + 24 * np + strip + ARENA_SLACK;
}

/** Runs every image; `gradScale` multiplies the batch-mean gradient (cflObjective passes alpha). */
export async function runPatchContrast(
  ctx: WasmContext,
  p: ParsedPatchContrast,
  gradScale = 1,
): Promise<PatchContrastResult> {
  const need = patchContrastMemory(p);
  checkMemoryBudget(ctx, need, 'patchContrast (one image)');
  const { b, c, h, w, patchSize } = p;
  const hw = h * w,
    chw = c * hw;
  const kh = h / patchSize,
    kw = w / patchSize,
    n = kh * kw;
  const images = await Promise.all(
    Array.from(
      { length: b },
      (_, img) =>
        ctx.executor.run((forWorker): PatchContrastJob => {
          const view = p.features.subarray(img * chw, (img + 1) * chw);
          const mask = maskImage(p.mask, img, hw);
          return {
            kind: 'patchContrast',
            features: forWorker ? view.slice() : view,
            offset: img * chw,
            mask: forWorker && mask.buffer === p.mask.buffer ? mask.slice() : mask,
            c,
            h,
            w,
            patchSize,
            temperature: p.temperature,
            variant: VARIANT[p.variant],
            gradScale: gradScale / (n * b),
            grad: p.grad,
            memoryBytes: need,
          };
        }) as Promise<PatchContrastImage>,
    ),
  );
  // Reduced in image order, whatever finished first.
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
  if (p.grad) {
    const grad = new Float32Array(b * chw);
    images.forEach((image, img) => {
      grad.set(image.grad as Float32Array, img * chw);
    });
    result.grad = { features: grad };
  }
  return result;
}
