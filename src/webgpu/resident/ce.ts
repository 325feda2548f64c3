// crossEntropy (and cflObjective's cross-entropy) on the device: each chunk's dispatch as an
// async call runs it (ce-job.ts), then its partial sums, per-element losses and gradient copied
// into the call's buffers; the partial sums are summed into a loss part.

import type { GpuOutput } from '../../types.js';
import { type CeInputs, ceBuffers, chunksOf, encodeCeChunk, planesOf } from '../ce-job.js';
import { Recorder } from '../recorder.js';
import type { DeviceCall } from './device-call.js';

/** Where the chunks' results go: the gradient and the per-element losses ('none'), when asked. */
export interface CeOutputs {
  grad?: GpuOutput;
  per?: GpuOutput;
}

/** Records the call's chunks; part `slot` = `scale` · Σ of the per-element losses. */
export function crossEntropyOnDevice(call: DeviceCall, p: CeInputs, scale: number, slot: number, out: CeOutputs): void {
  const { lane, rec } = call;
  const chunks = chunksOf(lane, p);
  const bufs = ceBuffers(lane, p, chunks);
  rec.write(bufs.weights, 0, p.weights);
  // Each chunk writes one partial sum per workgroup of its grid.
  const groups = chunks.reduce((sum, ch) => sum + Recorder.grid(ch.images * ch.len).reduce((x, y) => x * y), 0);
  const partials = lane.storage('cePartials', groups * 4);
  let at = 0;
  for (const ch of chunks) {
    const count = ch.images * ch.len;
    const written = encodeCeChunk(call.k, rec, p, ch, bufs);
    rec.copy(bufs.partial.buffer, 0, partials.buffer, at * 4, written * 4);
    at += written;
    if (out.per) rec.copy(bufs.per.buffer, 0, out.per.buffer as GPUBuffer, (ch.b0 * p.hw + ch.k0) * 4, count * 4);
    const grad = out.grad;
    if (grad)
      planesOf(p, ch).each((from, to, n) => rec.copy(bufs.grad.buffer, from, grad.buffer as GPUBuffer, to * 4, n * 4));
  }
  call.sum(partials, { count: at, stride: 1, a: 0 }, scale, slot);
}
