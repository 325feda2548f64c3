// crossEntropy: torch.nn.functional.cross_entropy on (B, C, H, W) logits (docs/spec.md §3).

export type { ParsedCrossEntropy } from '../runtime/jobs.js';

import type { CrossEntropyResult } from '../types.js';
import {
  CALL_OPTIONS,
  checkBoolean,
  checkCallOptions,
  checkChoice,
  checkFloat32,
  checkGradInto,
  checkShape,
  FLOAT32_MAX,
  optionalNumber,
  reportNonFinite,
} from '../validate.js';
import type { CallControl } from '../runtime/control.js';
import type { CrossEntropySums, ParsedCrossEntropy } from '../runtime/jobs.js';
import { Slicer } from '../runtime/control.js';
import { ARENA_SLACK, checkMemoryBudget, type LossContext, type MemoryNeed } from '../runtime/context.js';

const TARGET_KIND = { int32: 0, uint8: 1, uint16: 2 } as const;

export const CROSS_ENTROPY_OPTIONS = [
  'logits',
  'shape',
  'target',
  'targetProbs',
  'weight',
  'ignoreIndex',
  'reduction',
  'labelSmoothing',
  ...CALL_OPTIONS,
] as const;

/**
 * Logits per kernel call: a call over more is split at image boundaries, and the calling thread
 * may yield between the parts (about 10 ms of kernel work each).
 */
const LOGITS_PER_STEP = 2 ** 22;

/** A copy of the call's arrays, for a call that runs after the caller may have reused them. */
export function ownInputs(p: ParsedCrossEntropy): ParsedCrossEntropy {
  return { ...p, logits: p.logits.slice(), target: p.target?.slice(), targetProbs: p.targetProbs?.slice() };
}

export function parseCrossEntropy(o: Record<string, unknown>): ParsedCrossEntropy {
  const [b, c, h, w] = checkShape(o.shape);
  const hw = h * w;
  const logits = checkFloat32(o.logits, 'logits', b * c * hw);
  const hasTarget = o.target !== undefined,
    hasProbs = o.targetProbs !== undefined;
  if (hasTarget === hasProbs)
    throw new TypeError('crossEntropy needs exactly one of target (class indices) or targetProbs (probabilities)');
  let target: ParsedCrossEntropy['target'];
  let targetProbs: Float32Array | undefined;
  if (hasTarget) {
    const t = o.target;
    if (!(t instanceof Int32Array || t instanceof Uint8Array || t instanceof Uint16Array))
      throw new TypeError('target must be an Int32Array, Uint8Array or Uint16Array of class indices');
    if (t.length !== b * hw) throw new RangeError(`target must have ${b * hw} elements (B·H·W); got ${t.length}`);
    target = t;
  } else {
    targetProbs = checkFloat32(o.targetProbs, 'targetProbs', b * c * hw);
  }
  let weight = new Float64Array(c).fill(1);
  if (o.weight !== undefined && o.weight !== null) {
    const wv = o.weight as ArrayLike<number>;
    if (typeof wv !== 'object' || typeof wv.length !== 'number')
      throw new TypeError('weight must be an array of C numbers');
    if (wv.length !== c) throw new RangeError(`weight must have C = ${c} values; got ${wv.length}`);
    weight = Float64Array.from(wv);
    const bad = weight.findIndex((x) => !(Math.abs(x) <= FLOAT32_MAX));
    if (bad >= 0)
      throw new RangeError(
        `weight[${bad}] = ${weight[bad]}: class weights must be finite float32 values (|w| ≤ 3.4e38)`,
      );
  }
  const ignoreIndex = optionalNumber(o.ignoreIndex, 'ignoreIndex', -100);
  if (!Number.isInteger(ignoreIndex) || Math.abs(ignoreIndex) > 2 ** 31 - 1)
    throw new RangeError(`ignoreIndex must be a 32-bit integer; got ${ignoreIndex}`);
  if (targetProbs && ignoreIndex >= 0)
    throw new RangeError(
      `ignoreIndex (${ignoreIndex}) must be negative with targetProbs: it only applies to class-index targets ` +
        `(as in PyTorch)`,
    );
  const reduction = checkChoice(o.reduction, 'reduction', ['mean', 'sum', 'none'] as const, 'mean');
  const smoothing = optionalNumber(o.labelSmoothing, 'labelSmoothing', 0);
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`labelSmoothing must lie in [0, 1]; got ${smoothing}`);
  const grad = checkBoolean(o.grad, 'grad', true);
  const gradInto = checkGradInto(o.gradInto, { logits: b * c * hw }).logits;
  checkCallOptions(o);
  return { b, c, hw, logits, target, targetProbs, weight, ignoreIndex, reduction, smoothing, grad, gradInto };
}

/** Bytes of the caller's index targets in wasm memory (read in their own type). */
const targetBytes = (p: ParsedCrossEntropy) => (p.target ? p.b * p.hw * p.target.BYTES_PER_ELEMENT : 0);

/** Wasm memory of the target scan: float64 weights, the normalizer and the kernel's counts (4·(C + 1) bytes each). */
const scanBytes = (p: ParsedCrossEntropy) => (p.target ? 8 * p.c + 8 + 20 * (p.c + 1) : 0);

/**
 * Wasm memory of one call: the logits, float32 weights, the tail scratch (32 + 96·C bytes) and the status;
 * index targets: the caller's targets (read in place by the kernels) and the target scan; or the
 * probabilities; then the gradient and the per-element losses ('none').
 */
function memoryNeeded(p: ParsedCrossEntropy): MemoryNeed {
  const e = p.b * p.hw,
    n = e * p.c * 4;
  const targets = p.target ? targetBytes(p) + scanBytes(p) : n;
  return n + 100 * p.c + 32 + 4 + targets + (p.grad ? n : 0) + (p.reduction === 'none' ? 4 * e : 0) + ARENA_SLACK;
}

/** The wasm kind of index targets: they stay in their own type (a uint8 mask stays 1 byte a pixel). */
function targetKind(target: NonNullable<ParsedCrossEntropy['target']>): number {
  return target instanceof Int32Array
    ? TARGET_KIND.int32
    : target instanceof Uint8Array
      ? TARGET_KIND.uint8
      : TARGET_KIND.uint16;
}

/**
 * Checks the index targets already in the workspace at `targetPtr` (in the wasm kernel) and returns
 * the 'mean' normalizer Σ w_y over the valid targets, from per-class counts.
 */
function scanTargets(ctx: LossContext, p: ParsedCrossEntropy, targetPtr: number): number {
  const target = p.target as NonNullable<ParsedCrossEntropy['target']>;
  const { kernels: k, workspace: ws } = ctx;
  const weightsF64 = ws.putF64(p.weight);
  const normPtr = ws.alloc(8);
  const bad = k.crossEntropyPrepareTargets(
    targetPtr,
    targetKind(target),
    p.b * p.hw,
    p.c,
    p.ignoreIndex,
    weightsF64,
    normPtr,
    ws.alloc(4 * (p.c + 1)),
  );
  if (bad >= 0)
    throw new RangeError(
      `target[${bad}] = ${target[bad]}: class indices must lie in [0, ${p.c}) or equal ignoreIndex ` +
        `(${p.ignoreIndex})`,
    );
  return ws.f64(normPtr, 1)[0];
}

/** The mean's gradient scale; a zero normalizer gives a NaN loss and a zero gradient (docs/spec.md §3.1). */
function gradScaleOf(p: ParsedCrossEntropy, normalizer: number): number {
  const gradScale = p.reduction === 'mean' ? (normalizer === 0 ? 0 : 1 / normalizer) : 1;
  if (!(Math.abs(gradScale) <= FLOAT32_MAX)) {
    throw new RangeError(
      `weight: the 'mean' normalizer (the sum of the target classes' weights) is ${normalizer}, too close to 0 ` +
        `for float32 (its inverse overflows); scale the weights up`,
    );
  }
  return gradScale;
}

/** The result of either backend: the reduction of its raw sums. */
function resultOf(
  ctx: LossContext,
  p: ParsedCrossEntropy,
  normalizer: number,
  { sum, per, grad }: CrossEntropySums,
): CrossEntropyResult {
  const mean = normalizer === 0 ? Number.NaN : sum / normalizer;
  const loss = p.reduction === 'none' ? (per as Float32Array) : p.reduction === 'sum' ? sum : mean;
  const result: CrossEntropyResult = { loss, backend: ctx.backend };
  if (grad) result.grad = { logits: grad };
  return result;
}

/**
 * The executor's own path (WebGPU): the same checks, normalizer, reduction and result as on wasm; the
 * index targets are scanned on the calling thread's instance (after the job that holds it, if one
 * does, on a copy of the targets taken now), the rest runs on the executor.
 */
function runOnExecutor(
  ctx: LossContext,
  p: ParsedCrossEntropy,
  run: (p: ParsedCrossEntropy, gradScale: number) => Promise<CrossEntropySums>,
): Promise<CrossEntropyResult> {
  const finish = (normalizer: number) =>
    run(p, gradScaleOf(p, normalizer)).then((sums) => resultOf(ctx, p, normalizer, sums));
  const target = p.target;
  if (!target) return finish(p.b * p.hw);
  const need = targetBytes(p) + scanBytes(p) + ARENA_SLACK;
  checkMemoryBudget(ctx, need, 'crossEntropy');
  const ws = ctx.workspace;
  const scan = (targets: NonNullable<ParsedCrossEntropy['target']>) => {
    ws.reset();
    ws.reserve(need, 'crossEntropy');
    try {
      return scanTargets(ctx, p, ws.put(targets));
    } finally {
      ws.reset();
    }
  };
  if (!ws.busy) return finish(scan(target));
  const copy = target.slice();
  return ws.exclusive(() => scan(copy)).then(finish);
}

/** Rejects a call whose wasm memory would exceed the engine's limit (before any work). */
export function checkCrossEntropyMemory(ctx: LossContext, p: ParsedCrossEntropy): void {
  const need = ctx.executor.crossEntropy ? targetBytes(p) + scanBytes(p) + ARENA_SLACK : memoryNeeded(p);
  checkMemoryBudget(ctx, need, 'crossEntropy');
}

/**
 * Computes the loss and (unless grad: false) its gradient w.r.t. the logits on the calling
 * thread's instance: at once when it is free (the inputs are read now), else after the job that
 * holds it, on a copy of the inputs taken now.
 */
export function runCrossEntropy(
  ctx: LossContext,
  p: ParsedCrossEntropy,
  control: CallControl,
): Promise<CrossEntropyResult> {
  const own = ctx.executor.crossEntropy;
  if (own) return runOnExecutor(ctx, p, own.bind(ctx.executor));
  const need = memoryNeeded(p);
  checkMemoryBudget(ctx, need, 'crossEntropy');
  const q = ctx.workspace.busy ? ownInputs(p) : p;
  return ctx.workspace.exclusive(() => crossEntropyOnWasm(ctx, q, need, control));
}

/** Work units of a crossEntropy call (its logits), for onProgress. */
export const crossEntropyWork = (p: ParsedCrossEntropy): number => p.b * p.c * p.hw;

async function crossEntropyOnWasm(
  ctx: LossContext,
  p: ParsedCrossEntropy,
  need: number,
  control: CallControl,
): Promise<CrossEntropyResult> {
  control.throwIfStopped();
  const { kernels: k, workspace: ws } = ctx;
  const { b, c, hw } = p;
  const n = b * c * hw;
  ws.reset();
  ws.reserve(need, 'crossEntropy');
  try {
    const logitsPtr = ws.put(p.logits);
    const weightsF32 = ws.putF32(p.weight);
    const scratch = ws.alloc(32 + 96 * c);
    const status = ws.alloc(4);
    let normalizer: number;
    let targetPtr: number;
    if (p.target) {
      targetPtr = ws.put(p.target);
      normalizer = scanTargets(ctx, p, targetPtr);
    } else {
      targetPtr = ws.put(p.targetProbs as Float32Array);
      reportNonFinite(p.targetProbs as Float32Array, 'targetProbs', k.findNonFinite(targetPtr, n));
      normalizer = b * hw;
    }
    const gradScale = gradScaleOf(p, normalizer);
    const gradPtr = p.grad ? ws.alloc(n * 4) : 0;
    const perPtr = p.reduction === 'none' ? ws.alloc(b * hw * 4) : 0;
    const targetBytesPer = p.target ? p.target.BYTES_PER_ELEMENT : 4 * c;
    // Images [i0, i1) per kernel call; every input is in wasm memory already, so yielding between
    // the calls reads nothing of the caller's.
    const perStep = Math.max(1, Math.floor(LOGITS_PER_STEP / (c * hw)));
    const slicer = new Slicer();
    let sum = 0;
    for (let i0 = 0; i0 < b; i0 += perStep) {
      const images = Math.min(perStep, b - i0);
      const at = (ptr: number, perImage: number) => (ptr === 0 ? 0 : ptr + i0 * perImage);
      const logitsAt = at(logitsPtr, c * hw * 4);
      const args = [at(perPtr, hw * 4), at(gradPtr, c * hw * 4), scratch, status] as const;
      sum += p.target
        ? k.crossEntropyIndex(
            logitsAt,
            at(targetPtr, hw * targetBytesPer),
            targetKind(p.target),
            weightsF32,
            images,
            c,
            hw,
            p.ignoreIndex,
            p.smoothing,
            gradScale,
            ...args,
          )
        : k.crossEntropyProbs(
            logitsAt,
            at(targetPtr, hw * targetBytesPer),
            weightsF32,
            images,
            c,
            hw,
            p.smoothing,
            gradScale,
            ...args,
          );
      // The kernels check the logits as they go (a sum that is finite iff they all are, unless it
      // overflowed): only then is the culprit looked for, and a call without one goes on.
      if (!Number.isFinite(ws.f32(status, 1)[0])) {
        const from = i0 * c * hw;
        reportNonFinite(p.logits, 'logits', k.findNonFinite(logitsAt, images * c * hw), from);
      }
      control.advance(images * c * hw);
      if (i0 + images < b) {
        await slicer.maybeYield();
        control.throwIfStopped();
      }
    }
    const grad = p.grad ? (p.gradInto ?? null) : undefined;
    if (grad) grad.set(ws.f32(gradPtr, n));
    return resultOf(ctx, p, normalizer, {
      sum,
      per: p.reduction === 'none' ? ws.copyF32(perPtr, b * hw) : undefined,
      grad: grad === undefined ? undefined : (grad ?? ws.copyF32(gradPtr, n)),
    });
  } finally {
    ws.reset();
  }
}
