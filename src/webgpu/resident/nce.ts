// infoNCE on the device: each dictionary's passes as an async job runs them (nce-job.ts), its
// loss summed into a loss part, its query and negative rows scattered to their pixels channel
// slice by slice and copied into the gradient buffer — nothing read back. Scope 'batch' gathers
// its stacked image from the caller's layout on the GPU.

import { POSITIVE_MEAN_EXP, POSITIVE_MEAN_LOGIT } from '../../codes.js';
import type { GpuOutput } from '../../types.js';
import type { Binding } from '../lane.js';
import { encodeNceImage } from '../nce-job.js';
import { Recorder } from '../recorder.js';
import { channelsPerSlice, type ImageSource, uploadSlices } from '../slices.js';
import type { FloatSource } from '../source.js';
import type { DeviceCall } from './device-call.js';

/** A checked infoNCE call on the device: one dictionary per image, or one for the stacked batch. */
export interface DeviceInfoNCE {
  b: number;
  c: number;
  hw: number;
  features: FloatSource;
  temperature: number;
  positive: 'mean-logit' | 'mean-exp';
  scope: 'image' | 'batch';
  queries: Int32Array[];
  negatives: Int32Array[];
  grad: boolean;
}

/** Whether a dictionary has a loss: two queries or more and a negative. */
export const isUsed = (j: number, m: number) => j >= 2 && m >= 1;

/** Dictionary d's features: image d, or the stacked batch. */
function sourceOf(call: DeviceCall, p: DeviceInfoNCE, d: number): ImageSource {
  if (p.scope === 'batch') return { src: p.features, first: 0, stack: { images: p.b, hw: p.hw }, check: call.check };
  return { src: p.features, first: d * p.c * p.hw, check: call.check };
}

/** The rows of a dictionary scattered into the gradient of image `img` (each of its channel slices). */
function scatter(call: DeviceCall, p: DeviceInfoNCE, rows: [Binding, Binding, number][], img: number, grad: GpuOutput) {
  const { c, hw } = p;
  const perSlice = channelsPerSlice(call.lane, c, hw);
  const slice = call.lane.storage('gradSlice', perSlice * hw * 4);
  // A stacked pixel k lies in image k div hw; a dictionary of one image has pixels < hw.
  const target = p.scope === 'batch' ? img : 0;
  for (let c0 = 0; c0 < c; c0 += perSlice) {
    const cn = Math.min(perSlice, c - c0);
    call.rec.clear(slice.buffer, 0, cn * hw * 4);
    for (const [src, idx, count] of rows) {
      const params = { rows: count, c, hw, cOff: c0, sliceC: cn, img: target };
      call.rec.dispatch(call.k.scatterRows, { src, idx, out: slice }, params, ...Recorder.grid(count * cn));
    }
    call.rec.copy(slice.buffer, 0, grad.buffer as GPUBuffer, (img * c + c0) * hw * 4, cn * hw * 4);
  }
}

/** Records every dictionary: its mean query loss / (used dictionaries) into part d; its gradient into `grad`. */
export function infoNCEOnDevice(call: DeviceCall, p: DeviceInfoNCE, grad?: GpuOutput): void {
  const { b, c, hw } = p;
  const used = p.queries.map((q, d) => isUsed(q.length, p.negatives[d].length));
  const numUsed = used.filter(Boolean).length;
  const stackedHw = p.scope === 'batch' ? b * hw : hw;
  if (grad) call.rec.clear(grad.buffer as GPUBuffer, 0, grad.byteLength);
  p.queries.forEach((queries, d) => {
    const image = sourceOf(call, p, d);
    if (!used[d]) {
      // No loss, but its features are checked as on every backend.
      const perSlice = channelsPerSlice(call.lane, c, stackedHw);
      const feat = call.lane.storage('feat', perSlice * stackedHw * 4);
      uploadSlices(call.rec, feat, image, [c, stackedHw, perSlice], () => {});
      return;
    }
    const j = queries.length,
      negatives = p.negatives[d];
    const scale = 1 / (j * numUsed);
    const positive = p.positive === 'mean-exp' ? POSITIVE_MEAN_EXP : POSITIVE_MEAN_LOGIT;
    const job = {
      c,
      hw: stackedHw,
      queries,
      negatives,
      temperature: p.temperature,
      positive,
      gradScale: scale,
      grad: !!grad,
    };
    const e = encodeNceImage(call.lane, call.k, call.rec, job, image);
    call.sum(e.stats, { count: j, stride: 4, a: 2, b: 0 }, scale, d);
    if (!grad || !e.rows) return;
    const rows: [Binding, Binding, number][] = [
      [e.rows.du, e.idx.queries, j],
      [e.rows.dx, e.idx.negatives, negatives.length],
    ];
    const images = p.scope === 'batch' ? Array.from({ length: b }, (_, i) => i) : [d];
    for (const img of images) scatter(call, p, rows, img, grad);
  });
}
