// patchContrast: the CFL-Net patch contrastive loss (spec section 4), image by image.

import type { PatchContrastOptions, PatchContrastResult } from '../types';
import { checkBoolean, checkChoice, checkFloat32, checkMask, checkOptions, checkPatchSize, checkShape, checkTemperature, maskImage, reportMaskValue, reportNonFinite } from '../validate';
import { checkMemoryBudget, roundUp8, type WasmContext } from './context';

const VARIANT = { exact: 0, cflnet: 1 } as const;
const STRIP_ROWS = 32;

export interface ParsedPatchContrast {
  b: number; c: number; h: number; w: number;
  features: Float32Array;
  mask: PatchContrastOptions['mask'];
  patchSize: number;
  temperature: number;
  variant: 'exact' | 'cflnet';
  grad: boolean;
}

export function parsePatchContrast(options: PatchContrastOptions | Record<string, unknown>, defaults: { variant?: 'exact' | 'cflnet' } = {}): ParsedPatchContrast {
  const o = checkOptions(options, 'patchContrast');
  const [b, c, h, w] = checkShape(o.shape);
  return {
    b, c, h, w,
    features: checkFloat32(o.features, 'features', b * c * h * w),
    mask: checkMask(o.mask, 'mask', b * h * w),
    patchSize: checkPatchSize(o.patchSize, h, w),
    temperature: checkTemperature(o.temperature),
    variant: checkChoice(o.variant, 'variant', ['exact', 'cflnet'] as const, defaults.variant ?? 'exact'),
    grad: checkBoolean(o.grad, 'grad', true),
  };
}

/** Bytes of wasm memory one image needs (features, mask, the patch row matrices, one strip). */
export function patchContrastMemory(p: ParsedPatchContrast): number {
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  const np = roundUp8(n), cp = roundUp8(p.c);
  return p.c * p.h * p.w * 4 + p.h * p.w * 4 + 3 * np * cp * 4 + np * 18 + STRIP_ROWS * np * 4 + 4096;
}

/**
 * Runs every image; `gradScale` multiplies the batch-mean gradient (cflObjective passes alpha).
 */
export function runPatchContrast(ctx: WasmContext, p: ParsedPatchContrast, gradScale = 1): PatchContrastResult {
  checkMemoryBudget(ctx, patchContrastMemory(p), 'patchContrast (one image)');
  const { kernels: k, workspace: ws } = ctx;
  const { b, c, h, w, patchSize } = p;
  const hw = h * w, chw = c * hw;
  const kh = h / patchSize, kw = w / patchSize, n = kh * kw;
  const perImageLoss = new Float64Array(b);
  const perPatchLoss = new Float32Array(b * n);
  const patchLabels = new Uint8Array(b * n);
  const grad = p.grad ? new Float32Array(b * chw) : undefined;
  try {
    for (let img = 0; img < b; img++) {
      ws.reset();
      const featuresPtr = ws.put(p.features.subarray(img * chw, (img + 1) * chw));
      reportNonFinite(p.features, 'features', k.findNonFinite(featuresPtr, chw), img * chw);
      const maskPtr = ws.put(maskImage(p.mask, img, hw));
      if (p.mask instanceof Float32Array) reportMaskValue(p.mask, 'mask', offsetIndex(k.findOutsideUnit(maskPtr, hw), img * hw));
      const perPatchPtr = ws.alloc(n * 4), labelsPtr = ws.alloc(n);
      perImageLoss[img] = k.patchContrastImage(featuresPtr, maskPtr, c, h, w, patchSize, p.temperature, VARIANT[p.variant],
        gradScale / (n * b), perPatchPtr, labelsPtr, 0, grad ? featuresPtr : 0);
      perPatchLoss.set(ws.f32(perPatchPtr, n), img * n);
      patchLabels.set(ws.u8(labelsPtr, n), img * n);
      if (grad) grad.set(ws.f32(featuresPtr, chw), img * chw);
    }
  } finally {
    ws.reset();
  }
  let loss = 0;
  for (const l of perImageLoss) loss += l;
  const result: PatchContrastResult = { loss: loss / b, perImageLoss, perPatchLoss, patchLabels, grid: [kh, kw], backend: ctx.backend };
  if (grad) result.grad = { features: grad };
  return result;
}

const offsetIndex = (index: number, offset: number): number => (index < 0 ? -1 : index + offset);
