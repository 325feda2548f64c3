// crossEntropy: torch.nn.functional.cross_entropy on (B, C, H, W) logits (docs/spec.md §3). The
// work is one task on the calling thread's instance (runtime/wasm/ce-tasks.ts), or the WebGPU
// executor's own path with the targets checked on that instance.

import type { CrossEntropyResult } from '../types.js';
import {
  CALL_OPTIONS,
  checkChoice,
  checkFloat32,
  checkGradOptions,
  checkShape,
  FLOAT32_MAX,
  type FloatTaker,
  optionalNumber,
} from '../validate.js';
import type { CallControl } from '../runtime/control.js';
import { ARENA_SLACK, checkMemoryBudget, type LossContext, type MemoryNeed } from '../runtime/context.js';
import { gradScaleOf } from '../runtime/wasm/ce-tasks.js';
import type { CeTargetsTask, CrossEntropySums, CrossEntropyTask } from '../runtime/wasm/protocol.js';

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

/** A validated call: its task but for the memory, which the context decides. */
export type ParsedCrossEntropy = Omit<CrossEntropyTask, 'memoryBytes'>;

/** A validated call whose logits (and probabilities) were taken as F (GPU buffers on the device). */
export type CrossEntropyInputs<F> = Omit<ParsedCrossEntropy, 'logits' | 'targetProbs'> & { logits: F; targetProbs?: F };

/** A copy of the call's arrays, for a call that runs after the caller may have reused them. */
export function ownInputs(p: ParsedCrossEntropy): ParsedCrossEntropy {
  return { ...p, logits: p.logits.slice(), target: p.target?.slice(), targetProbs: p.targetProbs?.slice() };
}

function parseTarget<F>(o: Record<string, unknown>, [b, c, hw]: [number, number, number], floats: FloatTaker<F>) {
  const hasTarget = o.target !== undefined,
    hasProbs = o.targetProbs !== undefined;
  if (hasTarget === hasProbs)
    throw new TypeError('crossEntropy needs exactly one of target (class indices) or targetProbs (probabilities)');
  if (!hasTarget) return { targetProbs: floats(o.targetProbs, 'targetProbs', b * c * hw) };
  const t = o.target;
  if (!(t instanceof Int32Array || t instanceof Uint8Array || t instanceof Uint16Array))
    throw new TypeError('target must be an Int32Array, Uint8Array or Uint16Array of class indices');
  if (t.length !== b * hw) throw new RangeError(`target must have ${b * hw} elements (B·H·W); got ${t.length}`);
  return { target: t };
}

function parseWeight(value: unknown, c: number): Float64Array {
  if (value === undefined || value === null) return new Float64Array(c).fill(1);
  const wv = value as ArrayLike<number>;
  if (typeof wv !== 'object' || typeof wv.length !== 'number')
    throw new TypeError('weight must be an array of C numbers');
  if (wv.length !== c) throw new RangeError(`weight must have C = ${c} values; got ${wv.length}`);
  const weight = Float64Array.from(wv);
  const bad = weight.findIndex((x) => !(Math.abs(x) <= FLOAT32_MAX));
  if (bad >= 0)
    throw new RangeError(`weight[${bad}] = ${weight[bad]}: class weights must be finite float32 values (|w| ≤ 3.4e38)`);
  return weight;
}

export function parseCrossEntropy(o: Record<string, unknown>): ParsedCrossEntropy {
  return parseCrossEntropyWith(o, checkFloat32);
}

/** The same, the logits and probabilities taken by `floats`. */
export function parseCrossEntropyWith<F>(o: Record<string, unknown>, floats: FloatTaker<F>): CrossEntropyInputs<F> {
  const [b, c, h, w] = checkShape(o.shape);
  const hw = h * w;
  const logits = floats(o.logits, 'logits', b * c * hw);
  const { target, targetProbs } = parseTarget(o, [b, c, hw], floats);
  const weight = parseWeight(o.weight, c);
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
  const { grad, gradInto } = checkGradOptions(o, 'logits', b * c * hw);
  const input = { b, c, hw, logits, target, targetProbs, weight, ignoreIndex, reduction, smoothing, grad, gradInto };
  return { kind: 'crossEntropy', ...input };
}

/** What the target scan reads of a call. */
type TargetsOf = Pick<ParsedCrossEntropy, 'b' | 'c' | 'hw' | 'target' | 'ignoreIndex' | 'weight'>;

/** Bytes of the caller's index targets in wasm memory (read in their own type). */
const targetBytes = (p: TargetsOf) => (p.target ? p.b * p.hw * p.target.BYTES_PER_ELEMENT : 0);

/** Wasm memory of the target scan: float64 weights, the normalizer and the kernel's counts (4·(C + 1) bytes each). */
const scanBytes = (p: TargetsOf) => (p.target ? 8 * p.c + 8 + 20 * (p.c + 1) : 0);

/**
 * Wasm memory of one call: the logits, float32 weights, the tail scratch (32 + 96·C bytes) and the
 * status; index targets: the caller's targets (read in place by the kernels) and the target scan;
 * or the probabilities; then the gradient and the per-element losses ('none').
 */
function memoryNeeded(p: ParsedCrossEntropy): MemoryNeed {
  const e = p.b * p.hw,
    n = e * p.c * 4;
  const targets = p.target ? targetBytes(p) + scanBytes(p) : n;
  return n + 100 * p.c + 32 + 4 + targets + (p.grad ? n : 0) + (p.reduction === 'none' ? 4 * e : 0) + ARENA_SLACK;
}

/** The task of a call on this context's wasm, its memory checked first. */
function wasmTask(ctx: LossContext, p: ParsedCrossEntropy): CrossEntropyTask {
  const memoryBytes = memoryNeeded(p);
  checkMemoryBudget(ctx, memoryBytes, 'crossEntropy');
  return { ...p, memoryBytes };
}

/** The task that checks index targets on this context's wasm (the WebGPU path's). */
function targetsTask(ctx: LossContext, p: TargetsOf): CeTargetsTask | null {
  if (!p.target) return null;
  const memoryBytes = targetBytes(p) + scanBytes(p) + ARENA_SLACK;
  checkMemoryBudget(ctx, memoryBytes, 'crossEntropy');
  return { kind: 'ceTargets', target: p.target, c: p.c, ignoreIndex: p.ignoreIndex, weight: p.weight, memoryBytes };
}

/**
 * The 'mean' normalizer of a call whose logits are on the device (webgpu/resident/ce.ts), its index
 * targets checked now on the calling thread's wasm.
 */
export function normalizerSync(ctx: LossContext, p: TargetsOf): number {
  const scan = targetsTask(ctx, p);
  return scan ? ctx.inline.runSync(scan).normalizer : p.b * p.hw;
}

/** Rejects a call whose wasm memory would exceed the engine's limit (before any work). */
export function checkCrossEntropyMemory(ctx: LossContext, p: ParsedCrossEntropy): void {
  if (ctx.executor.crossEntropy) targetsTask(ctx, p);
  else wasmTask(ctx, p);
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

/** The executor's own path (WebGPU): the targets checked (and the normalizer found) on this thread's wasm first. */
async function onExecutor(ctx: LossContext, p: ParsedCrossEntropy, control: CallControl): Promise<CrossEntropyResult> {
  const scan = targetsTask(ctx, p);
  // A scan that waits for the instance reads a copy of the targets taken now.
  const normalizer = scan
    ? (await ctx.inline.run(ctx.inline.busy ? { ...scan, target: scan.target.slice() } : scan, control)).normalizer
    : p.b * p.hw;
  const run = ctx.executor.crossEntropy as NonNullable<typeof ctx.executor.crossEntropy>;
  const sums = await run.call(ctx.executor, { ...p, memoryBytes: 0 }, gradScaleOf(p.reduction, normalizer));
  return resultOf(ctx, p, normalizer, sums);
}

/**
 * Computes the loss and (unless grad: false) its gradient w.r.t. the logits on the calling
 * thread's instance: at once when it is free (the inputs are read now), else after the task that
 * holds it, on a copy of the inputs taken now.
 */
export async function runCrossEntropy(
  ctx: LossContext,
  p: ParsedCrossEntropy,
  control: CallControl,
): Promise<CrossEntropyResult> {
  if (ctx.executor.crossEntropy) return onExecutor(ctx, p, control);
  const task = wasmTask(ctx, ctx.inline.busy ? ownInputs(p) : p);
  const sums = await ctx.inline.run(task, control);
  return resultOf(ctx, p, sums.normalizer, sums);
}

/** The same, to completion now, on the calling thread's wasm (whatever the engine's backend). */
export function runCrossEntropySync(ctx: LossContext, p: ParsedCrossEntropy): CrossEntropyResult {
  const sums = ctx.inline.runSync(wasmTask(ctx, p));
  return resultOf(ctx, p, sums.normalizer, sums);
}

/** Work units of a crossEntropy call (its logits), for onProgress. */
export const crossEntropyWork = (p: ParsedCrossEntropy): number => p.b * p.c * p.hw;
