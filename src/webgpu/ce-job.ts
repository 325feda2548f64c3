// Cross-entropy on the GPU, in chunks: whole images when one fits a binding, else pixel ranges of
// one image. Each chunk is one dispatch that writes its partial sums (and per-element losses, and
// gradient). An async call reads each chunk back; a sync call on the device keeps them there
// (resident/ce.ts). The targets were checked, and gradScale worked out, by
// src/losses/crossEntropy.ts, which also reduces the sums of an async call.

import type { CrossEntropySums, CrossEntropyTask } from '../runtime/wasm/protocol.js';
import { reportNonFinite } from '../validate.js';
import type { CompiledKernels } from './kernels.js';
import type { Binding, Lane } from './lane.js';
import { Recorder } from './recorder.js';
import type { GpuSession } from './session.js';
import { type FloatSource, put } from './source.js';

/** The kernels' 'no bad value' index. */
const NONE = 0xffffffff;
export const BAD_INIT = new Uint32Array([NONE, NONE, 0, 0]);

/** A chunk: `images` whole images from b0, or pixels [k0, k0 + len) of image b0. */
export interface Chunk {
  b0: number;
  images: number;
  k0: number;
  len: number;
}

/** What the chunks of a call need: its geometry and settings, and where its inputs come from. */
export interface CeInputs {
  b: number;
  c: number;
  hw: number;
  ignoreIndex: number;
  smoothing: number;
  perElement: boolean;
  grad: boolean;
  logits: FloatSource;
  /** Index targets (checked), or probabilities. */
  target?: Int32Array;
  probs?: FloatSource;
  weights: Float32Array;
  gradScale: number;
}

export function chunksOf(lane: Lane, { b, c, hw }: { b: number; c: number; hw: number }): Chunk[] {
  const budget = Math.min(lane.budgets.slice, lane.limits.maxBinding);
  const chunks: Chunk[] = [];
  if (c * hw * 4 <= budget) {
    const per = Math.max(1, Math.floor(budget / (c * hw * 4)));
    for (let b0 = 0; b0 < b; b0 += per) chunks.push({ b0, images: Math.min(per, b - b0), k0: 0, len: hw });
    return chunks;
  }
  lane.checkBinding(c * 4, `crossEntropy's ${c} classes of one pixel`);
  const len = Math.max(1, Math.floor(budget / (c * 4)));
  for (let b0 = 0; b0 < b; b0++)
    for (let k0 = 0; k0 < hw; k0 += len) chunks.push({ b0, images: 1, k0, len: Math.min(len, hw - k0) });
  return chunks;
}

/** What every chunk's dispatch binds, sized for the largest chunk. */
export function ceBuffers(lane: Lane, p: CeInputs, chunks: Chunk[]) {
  const largest = chunks.reduce((a, ch) => Math.max(a, ch.images * ch.len), 0);
  const c = p.c;
  const [gx, gy] = Recorder.grid(largest);
  return {
    logits: lane.storage('ceLogits', largest * c * 4),
    second: p.target ? lane.storage('ceTarget', largest * 4) : lane.storage('ceProbs', largest * c * 4),
    weights: lane.storage('ceWeights', c * 4),
    per: lane.storage('cePer', p.perElement ? largest * 4 : 4),
    grad: lane.storage('ceGrad', p.grad ? largest * c * 4 : 4),
    partial: lane.storage('cePartial', gx * gy * 4),
    bad: lane.storage('bad', 16),
  };
}

export type CeBuffers = ReturnType<typeof ceBuffers>;

/**
 * Where a chunk's class planes lie in the caller's (B, C, H·W) layout: `put` copies them from a
 * source into a chunk buffer, `each` lists them (chunk byte offset, caller float index, floats).
 */
export function planesOf(p: { c: number; hw: number }, ch: Chunk) {
  const { c, hw } = p;
  const each = (fn: (at: number, from: number, count: number) => void) => {
    if (ch.len === hw) fn(0, ch.b0 * c * hw, ch.images * c * hw);
    else for (let cl = 0; cl < c; cl++) fn(cl * ch.len * 4, (ch.b0 * c + cl) * hw + ch.k0, ch.len);
  };
  return {
    each,
    put: (rec: Recorder, src: FloatSource, dst: Binding) =>
      each((at, from, count) => put(rec, src, from, count, dst, at)),
  };
}

/** Σw of the class weights, in float32 as the kernels add them. */
export function weightSumOf(weights: Float32Array): number {
  let sum = 0;
  for (const v of weights) sum = Math.fround(sum + v);
  return sum;
}

/** The two cross-entropy kernels (index and probability targets). */
export type CeKernels = CompiledKernels<'ceIndex' | 'ceProbs'>;
export const CE_KERNELS = ['ceIndex', 'ceProbs'] as const;

/** Records one chunk: its inputs put, its dispatch. Returns its grid (the partial sums it writes). */
export function encodeCeChunk(k: CeKernels, rec: Recorder, p: CeInputs, ch: Chunk, bufs: CeBuffers): number {
  const count = ch.images * ch.len;
  const planes = planesOf(p, ch);
  planes.put(rec, p.logits, bufs.logits);
  if (p.target) rec.write(bufs.second, 0, p.target.subarray(ch.b0 * p.hw + ch.k0, ch.b0 * p.hw + ch.k0 + count));
  else planes.put(rec, p.probs as FloatSource, bufs.second);
  const [x, y] = Recorder.grid(count);
  const params = {
    ...{ images: ch.images, c: p.c, len: ch.len, ignoreIndex: p.ignoreIndex, perElement: p.perElement ? 1 : 0 },
    ...{ withGrad: p.grad ? 1 : 0, hw: p.hw, firstImage: ch.b0, firstPixel: ch.k0, smoothing: p.smoothing },
    ...{ gradScale: p.gradScale, weightSum: weightSumOf(p.weights) },
  };
  const { logits, weights, per, grad, partial, bad, second } = bufs;
  const bound = { logits, weights, per, grad, partial, bad };
  if (p.target) rec.dispatch(k.ceIndex, { ...bound, tgt: second }, params, x, y);
  else rec.dispatch(k.ceProbs, { ...bound, probs: second }, params, x, y);
  return x * y;
}

/** The inputs of an async call: host arrays. */
function hostInputs(p: CrossEntropyTask, gradScale: number): CeInputs {
  const target = p.target && (p.target instanceof Int32Array ? p.target : Int32Array.from(p.target));
  const probs: FloatSource | undefined = p.targetProbs && { kind: 'host', values: p.targetProbs };
  const { b, c, hw, ignoreIndex, smoothing, grad } = p;
  const logits: FloatSource = { kind: 'host', values: p.logits };
  const weights = Float32Array.from(p.weight);
  return {
    b,
    c,
    hw,
    ignoreIndex,
    smoothing,
    perElement: p.reduction === 'none',
    grad,
    logits,
    target,
    probs,
    weights,
    gradScale,
  };
}

export async function crossEntropyJob(
  session: GpuSession,
  p: CrossEntropyTask,
  gradScale: number,
): Promise<CrossEntropySums> {
  const { b, c, hw } = p;
  const inputs = hostInputs(p, gradScale);
  const k = await session.kernels.load(CE_KERNELS);
  const { lane } = session;
  const chunks = chunksOf(lane, p);
  const per = inputs.perElement ? new Float32Array(b * hw) : undefined;
  const grad = p.grad ? new Float32Array(b * c * hw) : undefined;
  const rec = lane.recorder();
  const bufs = session.encode(() => {
    const bufs = ceBuffers(lane, inputs, chunks);
    rec.write(bufs.weights, 0, inputs.weights);
    rec.write(bufs.bad, 0, BAD_INIT);
    return bufs;
  });
  let sum = 0;
  for (const ch of chunks) {
    const count = ch.images * ch.len;
    const groups = session.encode(() => encodeCeChunk(k, rec, inputs, ch, bufs));
    const parts = [
      { src: bufs.bad.buffer, size: 16 },
      { src: bufs.partial.buffer, size: groups * 4 },
    ];
    if (per) parts.push({ src: bufs.per.buffer, size: count * 4 });
    if (grad) parts.push({ src: bufs.grad.buffer, size: count * c * 4 });
    const out = await session.read(rec, parts);
    const badIdx = new Uint32Array(out[0]);
    if (badIdx[0] !== NONE) reportNonFinite(p.logits, 'logits', badIdx[0]);
    if (p.targetProbs && badIdx[1] !== NONE) reportNonFinite(p.targetProbs, 'targetProbs', badIdx[1]);
    for (const v of new Float32Array(out[1])) sum += v;
    if (per) per.set(new Float32Array(out[2]), ch.b0 * hw + ch.k0);
    if (grad) {
      const g = new Float32Array(out[per ? 3 : 2]);
      planesOf(p, ch).each((at, from, n) => grad.set(g.subarray(at / 4, at / 4 + n), from));
    }
  }
  return { sum, per, grad };
}
