// patchContrast's tasks on one wasm instance (docs/design.md §9): stage 1 (pooling into Z), one
// part of a similarity pass, and the backward pass. The image passes through the arena a few
// channels at a time, each chunk copied in and pooled (or computed and copied out) while it is in
// cache: the arena never holds the whole image.

import { bandRows } from './band-rows.js';
import { classStrip, channelChunk, dzSpans, patchLayout, roundUp8, STRIP_ROWS } from './layout.js';
import type { WasmInstance } from './instance.js';
import type {
  BackwardResult,
  PatchBackwardTask,
  PatchPartResult,
  PatchPartTask,
  PatchPoolResult,
  PatchPoolTask,
  Step,
} from './protocol.js';

/** The operands were not sent because the pool believed the instance held them: a bug, not bad input. */
export function missing(what: string): never {
  throw new Error(`forgery-losses: internal error: ${what} of a similarity part neither sent nor pinned`);
}

export function* patchPool(
  { arena: ws, kernels: k }: WasmInstance,
  t: PatchPoolTask,
): Generator<number, PatchPoolResult> {
  // A band is pooled as an image of its own rows: every patch is computed as in the whole image.
  const [y0, y1] = t.band ?? [0, t.h];
  const pixels = (y1 - y0) * t.w,
    cp = roundUp8(t.c);
  const rowOf = ws.put(t.rowOf),
    z = ws.allocZeroed(t.rows * cp * 4),
    norms = ws.alloc(t.rows * 8);
  const chunk = channelChunk(t.c, pixels),
    scratch = ws.alloc(chunk * pixels * 4);
  for (let c0 = 0; c0 < t.c; c0 += chunk) {
    const count = Math.min(chunk, t.c - c0);
    for (let ch = 0; ch < count; ch++) {
      const from = (c0 + ch) * t.h * t.w + y0 * t.w;
      ws.f32(scratch + ch * pixels * 4, pixels).set(t.features.subarray(from, from + pixels));
    }
    k.patchContrastPoolChannels(scratch, c0, count, t.c, y1 - y0, t.w, t.p, rowOf, z);
    yield count * pixels;
  }
  k.patchContrastNormalize(z, t.rows, t.c, norms);
  const norm64 = ws.f64(norms, t.rows).slice();
  if (!t.zInto || !t.zRows) return { spare: t.features, z: ws.copyF32(z, t.rows * cp), norms: norm64 };
  const rows = ws.f32(z, t.rows * cp);
  for (let i = 0; i < t.rows; i++) t.zInto.set(rows.subarray(i * cp, (i + 1) * cp), t.zRows[i] * cp);
  return { spare: t.features, z: t.zInto, norms: norm64 };
}

/** The buffers of a part in the arena: its operand and packed forms pinned, the pass's vectors above them. */
function attachPart(inst: WasmInstance, t: PatchPartTask) {
  const { arena: ws, kernels: k } = inst;
  const { np, forgedStart } = patchLayout(t.n, t.pristine);
  const cp = roundUp8(t.c);
  const [z, packed] = ws.pin(t.image, () => {
    const z = ws.put(t.z ?? missing('Z')),
      packed = ws.alloc(2 * np * cp * 4);
    k.packOperand(z, np, cp, packed);
    return [z, packed];
  });
  // Buffers a pass reads are copied in; those it writes start at zero.
  const vector = (values?: Float32Array) => (values ? ws.put(values) : ws.allocZeroed(np * 4));
  const cmax = vector(t.cmax),
    statA = vector(t.statA),
    statB = vector(t.statB),
    invP = vector(t.invP);
  const writesDz = t.stage === 'negativeGrad' || (t.stage === 'positives' && t.grad);
  const dz = writesDz ? ws.alloc(np * cp * 4) : 0;
  // Only the rows the part writes start at zero (and are given back): 3 MB a part less to clear at pc1.
  if (dz) for (const [from, to] of dzRows(t)) ws.f32(dz + from * cp * 4, (to - from) * cp).fill(0);
  const sums = t.stage === 'positives' ? ws.allocZeroed(np * 16) : 0;
  // The negatives' partials for the forged rows: running maxima (exact) and sums.
  const forgedRows = np - forgedStart;
  const colMax = t.stage === 'negatives' ? ws.alloc(forgedRows * 4 + 16) : 0,
    colSum = t.stage === 'negatives' ? ws.allocZeroed(forgedRows * 4 + 16) : 0;
  if (colMax) ws.f32(colMax, forgedRows + 4).fill(-3e38);
  const args = [t.n, t.c, t.pristine, t.variant, t.temperature, cmax, statA, statB, invP, dz] as const;
  const state = k.patchContrastAttach(z, packed, ...args);
  return { state, cmax, statA, dz, sums, colMax, colSum };
}

export function* patchPart(inst: WasmInstance, t: PatchPartTask): Generator<number, PatchPartResult> {
  const k = inst.kernels;
  const b = attachPart(inst, t);
  const np = patchLayout(t.n, t.pristine).np;
  for (const step of t.steps) {
    if (step.stage === 'columnMax') k.patchContrastColumnMax(b.state, step.s0, step.s1);
    else if (step.stage === 'negatives') k.patchContrastNegatives(b.state, step.s0, step.s1, b.colMax, b.colSum);
    else if (step.stage === 'positives')
      k.patchContrastPositives(b.state, step.s0, step.s1, b.sums, b.sums + np * 8, t.gradScale, t.grad ? 1 : 0);
    else k.patchContrastNegativeGrad(b.state, step.s0, step.s1, t.gradScale);
    yield step.work;
  }
  return partResult(inst, t, b);
}

/** What a part gives back: the rows of its pass's outputs that it wrote. */
function partResult(inst: WasmInstance, t: PatchPartTask, b: ReturnType<typeof attachPart>): PatchPartResult {
  const { arena: ws, parts } = inst;
  const out = (ptr: number, n: number) => parts.copy(ws, ptr, n);
  const layout = patchLayout(t.n, t.pristine);
  const np = layout.np,
    cp = roundUp8(t.c);
  const first = t.steps[0].s0,
    last = (t.steps.at(-1) as Step).s1 - 1;
  if (t.stage === 'columnMax') return { row0: 0, cmax: out(b.cmax, np) };
  // The rows of the part's strips: class strips for the positives, pristine strips else.
  const row0 = t.stage === 'positives' ? classStrip(layout, first).i0 : first * STRIP_ROWS;
  if (t.stage === 'negatives') {
    const row1 = Math.min(t.pristine, (last + 1) * STRIP_ROWS);
    const forged = t.n - t.pristine;
    const statA = out(b.statA + row0 * 4, Math.max(0, row1 - row0));
    return { row0, statA, colMax: out(b.colMax, forged), colSum: out(b.colSum, forged) };
  }
  if (t.dzInto) fillSlot(inst, t.dzInto, b.dz, dzRows(t), cp);
  const rows = ([from, to]: [number, number]) => out(b.dz + from * cp * 4, (to - from) * cp);
  if (t.stage === 'negativeGrad') {
    if (t.dzInto) return { row0 };
    const [own, forged] = dzRows(t);
    return { row0, dz: rows(own), forgedDz: rows(forged) };
  }
  const result: PatchPartResult = {
    row0,
    lossSum: ws.f64(b.sums, np).slice(),
    bSum: ws.f64(b.sums + np * 8, np).slice(),
  };
  if (b.dz && !t.dzInto) result.dz = rows(dzRows(t)[0]);
  return result;
}

/** A part's dZ rows, span after span, into its slot in shared memory (protocol.ts DzSlot). */
function fillSlot({ arena: ws }: WasmInstance, slot: Float32Array, dz: number, spans: [number, number][], cp: number) {
  let at = 0;
  for (const [from, to] of spans) {
    slot.set(ws.f32(dz + from * cp * 4, (to - from) * cp), at);
    at += (to - from) * cp;
  }
}

function noDz(): never {
  throw new Error("forgery-losses: internal error: a whole image's backward task without its dZ or row map");
}

/** The rows of dZ a part writes (layout.ts dzSpans). */
function dzRows(t: PatchPartTask): [number, number][] {
  return dzSpans(patchLayout(t.n, t.pristine), t.stage, t.steps[0].s0, (t.steps.at(-1) as Step).s1 - 1);
}

export function patchBackward(inst: WasmInstance, t: PatchBackwardTask): BackwardResult {
  const { arena: ws, kernels: k } = inst;
  const { z, dz, norms, rowOf } = t.at
    ? bandRows(inst, t, t.at)
    : { z: ws.put(t.z), dz: ws.put(t.dz ?? noDz()), norms: ws.put(t.norms), rowOf: ws.put(t.rowOf ?? noDz()) };
  const [y0, y1] = t.band ?? [0, t.h];
  const h = y1 - y0,
    pixels = h * t.w;
  k.patchContrastBackwardRows(z, dz, norms, t.rows, t.c);
  const chunk = channelChunk(t.c, pixels),
    scratch = ws.alloc(chunk * pixels * 4);
  for (let c0 = 0; c0 < t.c; c0 += chunk) {
    const count = Math.min(chunk, t.c - c0);
    k.patchContrastUnpoolChannels(dz, c0, count, t.c, h, t.w, t.p, rowOf, scratch);
    for (let ch = 0; ch < count; ch++)
      t.out.set(ws.f32(scratch + ch * pixels * 4, pixels), (c0 + ch) * t.h * t.w + y0 * t.w);
  }
  return { grad: t.out };
}
