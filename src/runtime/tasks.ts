// Tasks: what one wasm instance runs for an image job (image.ts makes them; the calling thread or
// a worker runs them). A task's inputs come with it and are copied into the instance's arena, its
// outputs are fresh arrays, and the arena is freed when it ends, so any instance can run any task
// and the same task gives the same bits everywhere (docs/design.md §9). One exception saves the
// copies: the parts of a similarity pass share their operands (Z, or U and X) and their packed
// forms, which stay pinned in the arena (Workspace.pin) while the instance runs parts of the
// same image; a part sent to an instance that holds them comes without them (pool.ts).
// `taskSteps` runs a task as a generator of work units, one per step (docs/design.md §8).

import { classStrip, patchLayout, roundUp8, STRIP_ROWS, type Step } from './jobs.js';
import type { Kernels } from './kernels.js';
import type { Workspace } from './workspace.js';

interface TaskBase {
  /** Wasm memory reserved before the task starts (the job's estimate, an upper bound). */
  memoryBytes: number;
}

/**
 * patchContrast stage 1: labels, row map, Z and its norms (assembly/patch_contrast.ts
 * patchContrastPool), of the whole image or of one band of its pixel rows (bands.ts).
 */
export interface PatchPoolTask extends TaskBase {
  kind: 'patchPool';
  /** The image's C × H × W features (shared, for a band). */
  features: Float32Array;
  /** The float32 mask of the pooled rows (the band's, for a band). */
  mask: Float32Array;
  c: number;
  h: number;
  w: number;
  p: number;
  /** Pixel rows [y0, y1) of a band; the whole image when absent. */
  band?: [number, number];
}

export interface PatchPoolResult {
  /** The task's features array, handed back: the backward pass writes the gradient into it. */
  spare: Float32Array;
  labels: Uint8Array;
  rowOf: Int32Array;
  z: Float32Array;
  norms: Float64Array;
  pristine: number;
}

/** One part of a similarity pass of patchContrast, over Z and what earlier passes found. */
export interface PatchPartTask extends TaskBase {
  kind: 'patchPart';
  stage: 'columnMax' | 'negatives' | 'positives' | 'negativeGrad';
  steps: Step[];
  /** The image run the part belongs to (image.ts), which names its pinned operands. */
  image: number;
  /** Absent when the instance has the image's operands pinned. */
  z?: Float32Array;
  n: number;
  c: number;
  pristine: number;
  variant: number;
  temperature: number;
  gradScale: number;
  grad: boolean;
  /** The column maxima (cflnet, after their pass). */
  cmax?: Float32Array;
  /** Every row's statA and invP (after the negatives; invP from the class sizes), b (the negative gradient). */
  statA?: Float32Array;
  statB?: Float32Array;
  invP?: Float32Array;
}

/**
 * columnMax: the part's column maxima (N_p); negatives: statA of its pristine rows, from row
 * `row0`, and its partials for the F forged rows (exact: running maxima and sums; cflnet: sums);
 * positives: its sums for every row (float64, N_p) and, with a gradient, its partial dZ from row
 * `row0` to the end of its last strip's class block; negativeGrad: its partial dZ of its own rows,
 * from `row0`, and of the forged rows.
 */
export interface PatchPartResult {
  row0: number;
  cmax?: Float32Array;
  statA?: Float32Array;
  colMax?: Float32Array;
  colSum?: Float32Array;
  lossSum?: Float64Array;
  bSum?: Float64Array;
  dz?: Float32Array;
  /** negativeGrad: its partial dZ of the forged rows (from patchLayout's forgedStart). */
  forgedDz?: Float32Array;
}

/**
 * The gradient of the whole image, or of a band's pixel rows: then Z, dZ, the norms and the row
 * map are those of the band's patches alone (bands.ts).
 */
export interface PatchBackwardTask extends TaskBase {
  kind: 'patchBackward';
  /** Rows of Z (assembly/patch_contrast.ts patchContrastRows; a band's patches). */
  rows: number;
  /** C × H × W floats that receive the gradient (memory already touched: no fresh pages to fault in). */
  out: Float32Array;
  z: Float32Array;
  dz: Float32Array;
  norms: Float64Array;
  rowOf: Int32Array;
  c: number;
  h: number;
  w: number;
  p: number;
  /** Pixel rows [y0, y1) of a band; the whole image when absent. */
  band?: [number, number];
}

/** infoNCE stage 1: U, X, their norms and, for mean-logit, the positive terms. */
export interface NceGatherTask extends TaskBase {
  kind: 'nceGather';
  features: Float32Array;
  queries: Int32Array;
  negatives: Int32Array;
  c: number;
  hw: number;
  temperature: number;
  positive: number;
}

export interface NceGatherResult {
  /** The task's features array, handed back: the backward pass writes the gradient into it. */
  spare: Float32Array;
  u: Float32Array;
  x: Float32Array;
  normsU: Float64Array;
  normsX: Float64Array;
  /** mean-logit: S = Σ u_b and ℓ0 per query. */
  sumU?: Float32Array;
  l0?: Float32Array;
}

export interface NcePartTask extends TaskBase {
  kind: 'ncePart';
  stage: 'queryLse' | 'strips' | 'queryGrad';
  steps: Step[];
  image: number;
  /** Absent when the instance has the image's operands pinned. */
  u?: Float32Array;
  x?: Float32Array;
  j: number;
  m: number;
  c: number;
  temperature: number;
  positive: number;
  /** Every query's ℓ0 (J_p; the negatives). */
  l0?: Float32Array;
  /** mean-exp: every query's LSE over the others and its dl0 (J_p each; the query gradient). */
  lse?: Float32Array;
  dl0?: Float32Array;
  gradScale: number;
  grad: boolean;
}

/**
 * queryLse: the part's running maxima and sums for every query (J_p float32 each); strips: its
 * query rows' losses and dl0 from `row0`, its partial dU (its own rows, from `row0`) and dX (every
 * row); queryGrad: its partial dU from row `row0` on.
 */
export interface NcePartResult {
  row0: number;
  lseMax?: Float32Array;
  lseSum?: Float32Array;
  perQuery?: Float32Array;
  dl0?: Float32Array;
  du?: Float32Array;
  dx?: Float32Array;
}

export interface NceBackwardTask extends TaskBase {
  kind: 'nceBackward';
  /** C × H·W floats that receive the gradient. */
  out: Float32Array;
  u: Float32Array;
  du: Float32Array;
  x: Float32Array;
  dx: Float32Array;
  normsU: Float64Array;
  normsX: Float64Array;
  queries: Int32Array;
  negatives: Int32Array;
  sumU?: Float32Array;
  dl0: Float32Array;
  c: number;
  hw: number;
  temperature: number;
  positive: number;
}

/** The gradient with respect to one image's features (C × H·W): the task's `out`. */
export interface BackwardResult {
  grad: Float32Array;
}

export type Task = PatchPoolTask | PatchPartTask | PatchBackwardTask | NceGatherTask | NcePartTask | NceBackwardTask;
export type PartTask = PatchPartTask | NcePartTask;

/** A part's task without the operands an instance already holds. */
export function withoutOperands(task: PartTask): PartTask {
  return task.kind === 'patchPart' ? { ...task, z: undefined } : { ...task, u: undefined, x: undefined };
}
export type TaskResult = PatchPoolResult | PatchPartResult | NceGatherResult | NcePartResult | BackwardResult;

/**
 * Runs a task on a wasm instance as a generator: each `next()` runs one step and yields its work
 * units; the return value is the task's result. Stopping early (`return()`) frees its memory.
 */
export function* taskSteps(k: Kernels, ws: Workspace, task: Task): Generator<number, TaskResult, void> {
  const part = task.kind === 'patchPart' || task.kind === 'ncePart';
  if (!part) ws.reset();
  ws.reserve(task.memoryBytes, `${task.kind} (one image)`);
  let ok = false;
  try {
    let result: TaskResult;
    switch (task.kind) {
      case 'patchPool':
        result = yield* patchPool(k, ws, task);
        break;
      case 'patchPart':
        result = yield* patchPart(k, ws, task);
        break;
      case 'patchBackward':
        result = patchBackward(k, ws, task);
        break;
      case 'nceGather':
        result = yield* nceGather(k, ws, task);
        break;
      case 'ncePart':
        result = yield* ncePart(k, ws, task);
        break;
      case 'nceBackward':
        result = nceBackward(k, ws, task);
        break;
    }
    ok = true;
    return result;
  } finally {
    // A finished part keeps its operands pinned for the next part of its image.
    if (part && ok) ws.release();
    else ws.reset();
  }
}

/** The operands were not sent because the pool believed the instance held them: a bug, not bad input. */
function missing(what: string): never {
  throw new Error(`forgery-losses: internal error: ${what} of a similarity part neither sent nor pinned`);
}

/** Floats of an image a pooling or backward step holds (512 KiB): they stay in cache from the copy to the kernel. */
const CHUNK_FLOATS = 2 ** 17;

/** Channels per step of the pooling and the backward pass, for `pixels` pixels a channel. */
export function channelChunk(c: number, pixels: number): number {
  return Math.max(1, Math.min(c, Math.floor(CHUNK_FLOATS / pixels)));
}

/**
 * The most floats a step holds for an image of C channels of `pixels` pixels, or any band of it
 * (fewer pixels a channel, so maybe more channels a step): at most 2¹⁷ floats, or one channel.
 */
export function chunkFloats(c: number, pixels: number): number {
  return Math.min(c * pixels, Math.max(CHUNK_FLOATS, pixels));
}

// The image passes through the arena a few channels at a time, each chunk copied in and pooled or
// gathered (or computed and copied out) while it is in cache: the arena never holds the whole image.
function* patchPool(k: Kernels, ws: Workspace, t: PatchPoolTask): Generator<number, PatchPoolResult, void> {
  // A band is pooled as an image of its own rows: every patch is computed as in the whole image.
  const [y0, y1] = t.band ?? [0, t.h];
  const h = y1 - y0,
    pixels = h * t.w;
  const n = (h / t.p) * (t.w / t.p),
    cp = roundUp8(t.c);
  // Rows for any class split: each class block is padded to 8 (patchLayout).
  const most = roundUp8(n) + 8;
  const mask = ws.put(t.mask),
    labels = ws.alloc(n),
    rowOf = ws.alloc(n * 4);
  const pristine = k.patchContrastLayout(mask, h, t.w, t.p, labels, rowOf);
  const { np } = patchLayout(n, pristine);
  const z = ws.allocZeroed(most * cp * 4),
    norms = ws.alloc(most * 8);
  const chunk = channelChunk(t.c, pixels),
    scratch = ws.alloc(chunk * pixels * 4);
  for (let c0 = 0; c0 < t.c; c0 += chunk) {
    const count = Math.min(chunk, t.c - c0);
    for (let ch = 0; ch < count; ch++) {
      const from = (c0 + ch) * t.h * t.w + y0 * t.w;
      ws.f32(scratch + ch * pixels * 4, pixels).set(t.features.subarray(from, from + pixels));
    }
    k.patchContrastPoolChannels(scratch, c0, count, t.c, h, t.w, t.p, rowOf, z);
    yield count * pixels;
  }
  k.patchContrastNormalize(z, np, t.c, norms);
  return {
    spare: t.features,
    labels: ws.u8(labels, n).slice(),
    rowOf: ws.i32(rowOf, n).slice(),
    z: ws.copyF32(z, np * cp),
    norms: ws.f64(norms, np).slice(),
    pristine,
  };
}

function* patchPart(k: Kernels, ws: Workspace, t: PatchPartTask): Generator<number, PatchPartResult, void> {
  const layout = patchLayout(t.n, t.pristine);
  const np = layout.np,
    cp = roundUp8(t.c);
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
  const dz = writesDz ? ws.allocZeroed(np * cp * 4) : 0;
  const sums = t.stage === 'positives' ? ws.allocZeroed(np * 16) : 0;
  // The negatives' partials for the forged rows: running maxima (exact) and sums.
  const forgedRows = np - layout.forgedStart;
  const colMax = t.stage === 'negatives' ? ws.alloc(forgedRows * 4 + 16) : 0,
    colSum = t.stage === 'negatives' ? ws.allocZeroed(forgedRows * 4 + 16) : 0;
  if (colMax) ws.f32(colMax, forgedRows + 4).fill(-3e38);
  const state = k.patchContrastAttach(
    z,
    packed,
    t.n,
    t.c,
    t.pristine,
    t.variant,
    t.temperature,
    cmax,
    statA,
    statB,
    invP,
    dz,
  );
  for (const step of t.steps) {
    if (step.stage === 'columnMax') k.patchContrastColumnMax(state, step.s0, step.s1);
    else if (step.stage === 'negatives') k.patchContrastNegatives(state, step.s0, step.s1, colMax, colSum);
    else if (step.stage === 'positives')
      k.patchContrastPositives(state, step.s0, step.s1, sums, sums + np * 8, t.gradScale, t.grad ? 1 : 0);
    else k.patchContrastNegativeGrad(state, step.s0, step.s1, t.gradScale);
    yield step.work;
  }
  const first = t.steps[0].s0,
    last = (t.steps.at(-1) as Step).s1 - 1;
  if (t.stage === 'columnMax') return { row0: 0, cmax: ws.partF32(cmax, np) };
  // The rows of the part's strips: class strips for the positives, pristine strips else.
  const row0 = t.stage === 'positives' ? classStrip(layout, first).i0 : first * STRIP_ROWS;
  if (t.stage === 'negatives') {
    const row1 = Math.min(layout.pristine, (last + 1) * STRIP_ROWS);
    const forged = t.n - t.pristine;
    return {
      row0,
      statA: ws.partF32(statA + row0 * 4, Math.max(0, row1 - row0)),
      colMax: ws.partF32(colMax, forged),
      colSum: ws.partF32(colSum, forged),
    };
  }
  // The rows of dZ a part writes: its strips' rows to the end of their class block (positives), or
  // its pristine rows and every forged row (negativeGrad).
  const rows = (from: number, to: number) => ws.partF32(dz + from * cp * 4, (to - from) * cp);
  if (t.stage === 'negativeGrad') {
    const row1 = Math.min(layout.forgedStart, (last + 1) * STRIP_ROWS);
    return { row0, dz: rows(row0, row1), forgedDz: rows(layout.forgedStart, np) };
  }
  const result: PatchPartResult = {
    row0,
    lossSum: ws.f64(sums, np).slice(),
    bSum: ws.f64(sums + np * 8, np).slice(),
  };
  if (writesDz) result.dz = rows(row0, classStrip(layout, last).end);
  return result;
}

function patchBackward(k: Kernels, ws: Workspace, t: PatchBackwardTask): BackwardResult {
  const z = ws.put(t.z),
    dz = ws.put(t.dz),
    norms = ws.put(t.norms),
    rowOf = ws.put(t.rowOf);
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

function* nceGather(k: Kernels, ws: Workspace, t: NceGatherTask): Generator<number, NceGatherResult, void> {
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
  const result: NceGatherResult = {
    spare: t.features,
    u: ws.copyF32(u, jp * cp),
    x: ws.copyF32(x, mp * cp),
    normsU: ws.f64(normsU, jp).slice(),
    normsX: ws.f64(normsX, mp).slice(),
  };
  if (t.positive !== 1) {
    const sumU = ws.alloc(cp * 4),
      l0 = ws.allocZeroed(jp * 4),
      positive = ws.alloc(j * 4); // π_a, which the result does not carry
    k.infoNCEMeanLogit(u, j, t.c, t.temperature, sumU, l0, positive);
    result.sumU = ws.copyF32(sumU, cp);
    result.l0 = ws.copyF32(l0, jp);
  }
  return result;
}

function* ncePart(k: Kernels, ws: Workspace, t: NcePartTask): Generator<number, NcePartResult, void> {
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
  const writesDu = t.grad && t.stage !== 'queryLse';
  const du = writesDu ? ws.allocZeroed(jp * cp * 4) : 0,
    dx = t.grad && t.stage === 'strips' ? ws.allocZeroed(mp * cp * 4) : 0;
  const perQuery = t.stage === 'strips' ? ws.allocZeroed(jp * 4) : 0;
  const lseMax = t.stage === 'queryLse' ? ws.alloc(jp * 4) : 0,
    lseSum = t.stage === 'queryLse' ? ws.allocZeroed(jp * 4) : 0;
  if (lseMax) ws.f32(lseMax, jp).fill(-3e38);
  const state = k.infoNCEAttach(u, packedU, t.j, packedX, t.m, t.c, t.temperature, t.positive, l0, dl0, du, dx);
  for (const step of t.steps) {
    if (step.stage === 'queryLse') k.infoNCEQueryLse(state, step.s0, step.s1, lseMax, lseSum);
    else if (step.stage === 'strips') k.infoNCEStrips(state, step.s0, step.s1, t.gradScale, perQuery, t.grad ? 1 : 0);
    else k.infoNCEQueryGrad(state, step.s0, step.s1, lse);
    yield step.work;
  }
  const row0 = Math.min(jp, t.steps[0].s0 * STRIP_ROWS),
    row1 = Math.min(t.j, (t.steps.at(-1) as Step).s1 * STRIP_ROWS);
  if (t.stage === 'queryLse') return { row0: 0, lseMax: ws.partF32(lseMax, jp), lseSum: ws.partF32(lseSum, jp) };
  if (t.stage === 'queryGrad') return { row0, du: ws.partF32(du + row0 * cp * 4, (jp - row0) * cp) };
  const result: NcePartResult = {
    row0,
    perQuery: ws.partF32(perQuery + row0 * 4, row1 - row0),
    dl0: ws.partF32(dl0 + row0 * 4, row1 - row0),
  };
  if (t.grad) {
    // The strips' dU rows are their own; dX takes every row.
    const end = Math.min(jp, (t.steps.at(-1) as Step).s1 * STRIP_ROWS);
    result.du = ws.partF32(du + row0 * cp * 4, (end - row0) * cp);
    result.dx = ws.partF32(dx, mp * cp);
  }
  return result;
}

function nceBackward(k: Kernels, ws: Workspace, t: NceBackwardTask): BackwardResult {
  const j = t.queries.length,
    m = t.negatives.length;
  const u = ws.put(t.u),
    du = ws.put(t.du),
    x = ws.put(t.x),
    dx = ws.put(t.dx);
  const normsU = ws.put(t.normsU),
    normsX = ws.put(t.normsX),
    queries = ws.put(t.queries),
    negatives = ws.put(t.negatives);
  const sumU = t.sumU ? ws.put(t.sumU) : 0,
    dl0 = ws.put(t.dl0);
  const c = t.c,
    hw = t.hw;
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

/** The buffers of a task result, handed over instead of copied (worker replies). */
export function resultTransfer(result: TaskResult): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of Object.values(result))
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}
