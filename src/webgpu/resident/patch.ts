// patchContrast (and cflObjective's contrastive part) on the device: each image's passes as an
// async job runs them (patch-job.ts), then its loss summed into a loss part and its gradient
// slices copied into the gradient buffer — nothing read back.

import { VARIANT_CFLNET, VARIANT_EXACT } from '../../codes.js';
import { patchLabels } from '../../runtime/wasm/layout.js';
import type { GpuOutput } from '../../types.js';
import { maskImage } from '../../validate.js';
import type { Mask } from '../../types.js';
import { encodePatchImage } from '../patch-job.js';
import type { FloatSource } from '../source.js';
import type { DeviceCall } from './device-call.js';

/** A checked patchContrast call on the device. */
export interface DevicePatchContrast {
  b: number;
  c: number;
  h: number;
  w: number;
  features: FloatSource;
  patchSize: number;
  temperature: number;
  variant: 'exact' | 'cflnet';
  grad: boolean;
  /** (B, N) patch labels. */
  labels: Uint8Array;
}

/** The patch labels of every image, by majority of its mask (as on every backend). */
export function labelsOf(mask: Mask, [b, h, w]: [number, number, number], patchSize: number): Uint8Array {
  const n = (h / patchSize) * (w / patchSize);
  const labels = new Uint8Array(b * n);
  for (let img = 0; img < b; img++) labels.set(patchLabels(maskImage(mask, img, h * w), h, w, patchSize), img * n);
  return labels;
}

/**
 * Records every image: its loss L / (N·B), times `alpha`, into parts [0, B); its gradient (scaled
 * alike) into `grad`.
 */
export function patchContrastOnDevice(call: DeviceCall, p: DevicePatchContrast, alpha: number, grad?: GpuOutput): void {
  const { b, c, h, w, patchSize } = p;
  const hw = h * w,
    n = (h / patchSize) * (w / patchSize);
  const scale = alpha / (n * b);
  const variant = p.variant === 'cflnet' ? VARIANT_CFLNET : VARIANT_EXACT;
  for (let img = 0; img < b; img++) {
    const labels = p.labels.subarray(img * n, (img + 1) * n);
    const job = { labels, c, h, w, patchSize, temperature: p.temperature, variant, gradScale: scale, grad: !!grad };
    const image = { src: p.features, first: img * c * hw, check: call.check };
    const e = encodePatchImage(call.lane, call.k, call.rec, job, image);
    call.sum(e.stats, { count: n, stride: 4, a: 2 }, scale, img);
    if (!grad || !e.sliceBack) continue;
    for (let c0 = 0; c0 < c; c0 += e.perSlice) {
      const cn = Math.min(e.perSlice, c - c0);
      const slice = e.sliceBack(c0, cn);
      call.rec.copy(slice.buffer, 0, grad.buffer as GPUBuffer, (img * c + c0) * hw * 4, cn * hw * 4);
    }
  }
}
