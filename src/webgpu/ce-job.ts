// A whole cross-entropy call on the GPU, in chunks: whole images when one fits a binding, else
// pixel ranges of one image. Each chunk is one dispatch and one read-back of its partial sums (and
// per-element losses, and gradient). The targets were checked, and gradScale worked out, by
// src/losses/crossEntropy.ts, which also reduces the sums.

import type { CrossEntropySums, CrossEntropyTask } from '../runtime/wasm/protocol.js';
import { reportNonFinite } from '../validate.js';
import { type Binding, type GpuRuntime, Recorder } from './device.js';

/** The kernels' 'no bad value' index. */
const NONE = 0xffffffff;
const BAD_INIT = new Uint32Array([NONE, NONE, 0, 0]);

interface Chunk {
  b0: number;
  images: number;
  k0: number;
  len: number;
}

function chunksOf(rt: GpuRuntime, { b, c, hw }: CrossEntropyTask): Chunk[] {
  const budget = Math.min(rt.budgets.slice, rt.limits.maxBinding);
  const chunks: Chunk[] = [];
  if (c * hw * 4 <= budget) {
    const per = Math.max(1, Math.floor(budget / (c * hw * 4)));
    for (let b0 = 0; b0 < b; b0 += per) chunks.push({ b0, images: Math.min(per, b - b0), k0: 0, len: hw });
    return chunks;
  }
  rt.checkBinding(c * 4, `crossEntropy's ${c} classes of one pixel`);
  const len = Math.max(1, Math.floor(budget / (c * 4)));
  for (let b0 = 0; b0 < b; b0++)
    for (let k0 = 0; k0 < hw; k0 += len) chunks.push({ b0, images: 1, k0, len: Math.min(len, hw - k0) });
  return chunks;
}

/** What every chunk's dispatch binds, sized for the largest chunk. */
function buffersFor(rt: GpuRuntime, p: CrossEntropyTask, largest: number) {
  const c = p.c;
  const [gx, gy] = Recorder.grid(largest);
  return {
    logits: rt.storage('ceLogits', largest * c * 4),
    second: p.target ? rt.storage('ceTarget', largest * 4) : rt.storage('ceProbs', largest * c * 4),
    weights: rt.storage('ceWeights', c * 4),
    per: rt.storage('cePer', p.reduction === 'none' ? largest * 4 : 4),
    grad: rt.storage('ceGrad', p.grad ? largest * c * 4 : 4),
    partial: rt.storage('cePartial', gx * gy * 4),
    bad: rt.storage('bad', 16),
  };
}

/** Writes a chunk's class planes of `src` (B, C, H·W) into `dst`; `into`, the other way. */
function planes(p: CrossEntropyTask, ch: Chunk) {
  const { c, hw } = p;
  const whole = ch.len === hw;
  const at = (cl: number) => (ch.b0 * c + cl) * hw + ch.k0;
  return {
    write: (rec: Recorder, src: Float32Array, dst: Binding) => {
      if (whole) rec.write(dst, 0, src.subarray(ch.b0 * c * hw, (ch.b0 + ch.images) * c * hw));
      else for (let cl = 0; cl < c; cl++) rec.write(dst, cl * ch.len * 4, src.subarray(at(cl), at(cl) + ch.len));
    },
    into: (out: Float32Array, g: Float32Array) => {
      if (whole) out.set(g, ch.b0 * c * hw);
      else for (let cl = 0; cl < c; cl++) out.set(g.subarray(cl * ch.len, (cl + 1) * ch.len), at(cl));
    },
  };
}

export async function crossEntropyJob(
  rt: GpuRuntime,
  p: CrossEntropyTask,
  gradScale: number,
): Promise<CrossEntropySums> {
  const { b, c, hw } = p;
  const target = p.target && (p.target instanceof Int32Array ? p.target : Int32Array.from(p.target));
  const weights = Float32Array.from(p.weight);
  let weightSum = 0;
  for (const v of weights) weightSum = Math.fround(weightSum + v);
  const k = await rt.kernelsFor([target ? 'ceIndex' : 'ceProbs'] as const);
  const chunks = chunksOf(rt, p);
  const per = p.reduction === 'none' ? new Float32Array(b * hw) : undefined;
  const grad = p.grad ? new Float32Array(b * c * hw) : undefined;
  const bufs = buffersFor(
    rt,
    p,
    chunks.reduce((a, ch) => Math.max(a, ch.images * ch.len), 0),
  );
  const rec = rt.recorder();
  rec.write(bufs.weights, 0, weights);
  rec.write(bufs.bad, 0, BAD_INIT);
  let sum = 0;
  for (const ch of chunks) {
    const count = ch.images * ch.len;
    const chunk = planes(p, ch);
    chunk.write(rec, p.logits, bufs.logits);
    if (target) rec.write(bufs.second, 0, target.subarray(ch.b0 * hw + ch.k0, ch.b0 * hw + ch.k0 + count));
    else chunk.write(rec, p.targetProbs as Float32Array, bufs.second);
    const [x, y] = Recorder.grid(count);
    const params = {
      ...{ images: ch.images, c, len: ch.len, ignoreIndex: p.ignoreIndex, perElement: per ? 1 : 0 },
      ...{ withGrad: grad ? 1 : 0, hw, firstImage: ch.b0, firstPixel: ch.k0, smoothing: p.smoothing },
      ...{ gradScale, weightSum },
    };
    const { logits, weights: w, per: perBuf, grad: gradBuf, partial, bad, second } = bufs;
    const bound = { logits, weights: w, per: perBuf, grad: gradBuf, partial, bad };
    if (target) rec.dispatch(k.ceIndex, { ...bound, tgt: second }, params, x, y);
    else rec.dispatch(k.ceProbs, { ...bound, probs: second }, params, x, y);
    const parts = [
      { src: bad.buffer, size: 16 },
      { src: partial.buffer, size: x * y * 4 },
    ];
    if (per) parts.push({ src: perBuf.buffer, size: count * 4 });
    if (grad) parts.push({ src: gradBuf.buffer, size: count * c * 4 });
    const out = await rt.read(rec, parts);
    const badIdx = new Uint32Array(out[0]);
    if (badIdx[0] !== NONE) reportNonFinite(p.logits, 'logits', badIdx[0]);
    if (p.targetProbs && badIdx[1] !== NONE) reportNonFinite(p.targetProbs, 'targetProbs', badIdx[1]);
    for (const v of new Float32Array(out[1])) sum += v;
    if (per) per.set(new Float32Array(out[2]), ch.b0 * hw + ch.k0);
    if (grad) chunk.into(grad, new Float32Array(out[per ? 3 : 2]));
  }
  return { sum, per, grad };
}
