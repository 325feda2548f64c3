// infoNCE's tasks on one wasm instance (docs/design.md §9): stage 1 (gathering U and X), one part
// of a similarity pass, and the backward pass (the scatter), the image through the arena a few
// channels at a time.

import { POSITIVE_MEAN_EXP } from '../../codes.js';
import type { WasmInstance } from './instance.js';
import { channelChunk, nceDuRows, roundUp8, STRIP_ROWS } from './layout.js';
import { missing } from './patch-tasks.js';
import type {
  BackwardResult,
  NceBackwardTask,
  NceGatherResult,
  NceGatherTask,
  NcePartResult,
  NcePartTask,
  Step,
} from './protocol.js';

export function* nceGather(
  { arena: ws, kernels: k }: WasmInstance,
  t: NceGatherTask,
): Generator<number, NceGatherResult> {
  const j = t.queries.length,
    m = t.negatives.length;
  const jp = roundUp8(j),
    mp = roundUp8(m),
    cp = roundUp8(t.c);
  const queries = ws.put(t.queries),
    negatives = ws.put(t.negatives);
  const u = ws.allocZeroed(jp * cp * 4),
    x = ws.allocZeroed(mp * cp * 4),
    normsU = ws.alloc(jp * 8),
    normsX = ws.alloc(mp * 8);
  const chunk = channelChunk(t.c, t.hw),
    scratch = ws.alloc(chunk * t.hw * 4);
  for (let c0 = 0; c0 < t.c; c0 += chunk) {
    const count = Math.min(chunk, t.c - c0);
    ws.f32(scratch, count * t.hw).set(t.features.subarray(c0 * t.hw, (c0 + count) * t.hw));
    k.infoNCEGatherChannels(scratch, c0, count, t.c, t.hw, queries, j, negatives, m, u, x);
    yield count * t.hw;
  }
  k.infoNCENormalize(u, j, x, m, t.c, normsU, normsX);
  const out = (into: Float32Array | undefined, ptr: number, n: number) => {
    if (!into) return ws.copyF32(ptr, n);
    into.set(ws.f32(ptr, n));
    return into;
  };
  const result: NceGatherResult = {
    spare: t.features,
    u: out(t.uInto, u, jp * cp),
    x: out(t.xInto, x, mp * cp),
    normsU: ws.f64(normsU, jp).slice(),
    normsX: ws.f64(normsX, mp).slice(),
  };
  if (t.positive !== POSITIVE_MEAN_EXP) {
    const sumU = ws.alloc(cp * 4),
      l0 = ws.allocZeroed(jp * 4),
      positive = ws.alloc(j * 4); // π_a, which the result does not carry
    k.infoNCEMeanLogit(u, j, t.c, t.temperature, sumU, l0, positive);
    result.sumU = ws.copyF32(sumU, cp);
    result.l0 = ws.copyF32(l0, jp);
  }
  return result;
}

/** The buffers of a part in the arena: its operands and packed forms pinned, the pass's vectors above them. */
function attachPart({ arena: ws, kernels: k }: WasmInstance, t: NcePartTask) {
  const jp = roundUp8(t.j),
    mp = roundUp8(t.m),
    cp = roundUp8(t.c);
  const [u, packedU, packedX] = ws.pin(t.image, () => {
    const u = ws.put(t.u ?? missing('U')),
      x = ws.put(t.x ?? missing('X'));
    const packedU = ws.alloc(2 * jp * cp * 4),
      packedX = ws.alloc(2 * mp * cp * 4);
    k.packOperand(u, jp, cp, packedU);
    k.packOperand(x, mp, cp, packedX);
    return [u, packedU, packedX];
  });
  // Buffers a pass reads are copied in; those it writes start at zero.
  const vector = (values?: Float32Array) => (values ? ws.put(values) : ws.allocZeroed(jp * 4));
  const l0 = vector(t.l0),
    dl0 = vector(t.dl0),
    lse = vector(t.lse);
  const du = t.grad && t.stage !== 'queryLse' ? ws.allocZeroed(jp * cp * 4) : 0,
    dx = t.grad && t.stage === 'strips' ? ws.allocZeroed(mp * cp * 4) : 0;
  const perQuery = t.stage === 'strips' ? ws.allocZeroed(jp * 4) : 0;
  const lseMax = t.stage === 'queryLse' ? ws.alloc(jp * 4) : 0,
    lseSum = t.stage === 'queryLse' ? ws.allocZeroed(jp * 4) : 0;
  if (lseMax) ws.f32(lseMax, jp).fill(-3e38);
  const args = [t.j, packedX, t.m, t.c, t.temperature, t.positive, l0, dl0, du, dx] as const;
  const state = k.infoNCEAttach(u, packedU, ...args);
  return { state, dl0, lse, du, dx, perQuery, lseMax, lseSum };
}

export function* ncePart(inst: WasmInstance, t: NcePartTask): Generator<number, NcePartResult> {
  const k = inst.kernels;
  const b = attachPart(inst, t);
  for (const step of t.steps) {
    if (step.stage === 'queryLse') k.infoNCEQueryLse(b.state, step.s0, step.s1, b.lseMax, b.lseSum);
    else if (step.stage === 'strips')
      k.infoNCEStrips(b.state, step.s0, step.s1, t.gradScale, b.perQuery, t.grad ? 1 : 0);
    else k.infoNCEQueryGrad(b.state, step.s0, step.s1, b.lse);
    yield step.work;
  }
  return partResult(inst, t, b);
}

/** What a part gives back: the rows of its pass's outputs that it wrote (its gradients: into its slot, if any). */
function partResult(inst: WasmInstance, t: NcePartTask, b: ReturnType<typeof attachPart>): NcePartResult {
  const out = (ptr: number, n: number) => inst.parts.copy(inst.arena, ptr, n);
  const jp = roundUp8(t.j),
    mp = roundUp8(t.m),
    cp = roundUp8(t.c);
  const end = (t.steps.at(-1) as Step).s1;
  const [row0, duEnd] = nceDuRows(t.stage, jp, t.steps[0].s0, end);
  if (t.stage === 'queryLse') return { row0: 0, lseMax: out(b.lseMax, jp), lseSum: out(b.lseSum, jp) };
  const row1 = Math.min(t.j, end * STRIP_ROWS);
  const result: NcePartResult =
    t.stage === 'queryGrad'
      ? { row0 }
      : { row0, perQuery: out(b.perQuery + row0 * 4, row1 - row0), dl0: out(b.dl0 + row0 * 4, row1 - row0) };
  if (!t.grad) return result;
  // The strips' dU rows are their own (the query gradient's: to the last row); dX takes every row.
  const du = inst.arena.f32(b.du + row0 * cp * 4, (duEnd - row0) * cp),
    dx = b.dx ? inst.arena.f32(b.dx, mp * cp) : undefined;
  if (t.into) {
    t.into.set(du);
    if (dx) t.into.set(dx, du.length);
    return result;
  }
  result.du = out(b.du + row0 * cp * 4, du.length);
  if (dx) result.dx = out(b.dx, mp * cp);
  return result;
}

export function nceBackward({ arena: ws, kernels: k }: WasmInstance, t: NceBackwardTask): BackwardResult {
  const j = t.queries.length,
    m = t.negatives.length;
  const [u, x] = [t.u, t.x].map((v) => ws.put(v));
  const [du, dx] = t.slots
    ? gradientsFromSlots({ arena: ws, kernels: k }, t)
    : [t.du, t.dx].map((v) => ws.put(v as Float32Array));
  const [normsU, normsX, queries, negatives] = [t.normsU, t.normsX, t.queries, t.negatives].map((v) => ws.put(v));
  const sumU = t.sumU ? ws.put(t.sumU) : 0,
    dl0 = ws.put(t.dl0);
  const { c, hw } = t;
  k.infoNCEBackwardRows(u, du, x, dx, j, m, c, normsU, normsX, t.positive, t.temperature, sumU, dl0);
  const chunk = channelChunk(c, hw),
    scratch = ws.alloc(chunk * hw * 4);
  for (let c0 = 0; c0 < c; c0 += chunk) {
    const count = Math.min(chunk, c - c0);
    k.infoNCEScatterChannels(du, dx, c0, count, c, hw, queries, j, negatives, m, scratch);
    t.out.set(ws.f32(scratch, count * hw), c0 * hw);
  }
  return { grad: t.out };
}

/**
 * dU and dX in the arena from the parts' slots, summed in the order of the calling thread's merge
 * (schedule/nce-image.ts) with its float32 adds, onto zeros: the bits of its merge, which places
 * some of them instead, since a float32 sum that starts at +0, as the parts' do, is never −0.
 */
function gradientsFromSlots({ arena: ws, kernels: k }: Pick<WasmInstance, 'arena' | 'kernels'>, t: NceBackwardTask) {
  const cp = roundUp8(t.c),
    jp = roundUp8(t.queries.length),
    mp = roundUp8(t.negatives.length);
  const du = ws.allocZeroed(jp * cp * 4),
    dx = ws.allocZeroed(mp * cp * 4),
    part = ws.alloc(Math.max(jp, mp) * cp * 4);
  const add = (to: number, from: Float32Array) => {
    ws.f32(part, from.length).set(from);
    k.addF32(to, part, from.length);
  };
  for (const { values, row0, rows } of t.slots ?? []) {
    add(du + row0 * cp * 4, values.subarray(0, rows * cp));
    if (values.length > rows * cp) add(dx, values.subarray(rows * cp));
  }
  return [du, dx];
}
