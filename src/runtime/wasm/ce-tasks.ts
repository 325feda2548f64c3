// Cross-entropy's tasks on the calling thread's instance (docs/spec.md §3, docs/design.md §2): the
// check of index targets with the 'mean' normalizer, and a whole call in steps of whole images.
// Every input is copied into wasm memory before the first step ends, so a call that starts at once
// has read all of the caller's arrays when it returns.

import { TARGET_I32, TARGET_U16, TARGET_U8 } from '../../codes.js';
import { FLOAT32_MAX, reportNonFinite } from '../../validate.js';
import type { WasmInstance } from './instance.js';
import type { CeTargetsResult, CeTargetsTask, CrossEntropyTask, CrossEntropyTaskResult } from './protocol.js';

type Target = NonNullable<CrossEntropyTask['target']>;

/** Logits per kernel call: a call over more is split at image boundaries, each part a step (bench/RESULTS.md). */
const LOGITS_PER_STEP = 2 ** 22;

/** The wasm kind of index targets: they stay in their own type (a uint8 mask stays 1 byte a pixel). */
function targetKind(target: Target): number {
  return target instanceof Int32Array ? TARGET_I32 : target instanceof Uint8Array ? TARGET_U8 : TARGET_U16;
}

/** Checks the index targets at `targetPtr` in the kernel; returns the 'mean' normalizer Σ w_y over the valid ones. */
function scanTargets(inst: WasmInstance, t: CeTargetsTask, targetPtr: number): number {
  const { arena: ws, kernels: k } = inst;
  const weights = ws.putF64(t.weight),
    normalizer = ws.alloc(8);
  const counts = ws.alloc(4 * (t.c + 1));
  const bad = k.crossEntropyPrepareTargets(
    targetPtr,
    targetKind(t.target),
    t.target.length,
    t.c,
    t.ignoreIndex,
    weights,
    normalizer,
    counts,
  );
  if (bad >= 0)
    throw new RangeError(
      `target[${bad}] = ${t.target[bad]}: class indices must lie in [0, ${t.c}) or equal ignoreIndex ` +
        `(${t.ignoreIndex})`,
    );
  return ws.f64(normalizer, 1)[0];
}

export function ceTargets(inst: WasmInstance, t: CeTargetsTask): CeTargetsResult {
  return { normalizer: scanTargets(inst, t, inst.arena.put(t.target)) };
}

/**
 * The gradient's scale: 1/normalizer for 'mean', whose zero normalizer gives a NaN loss and a zero
 * gradient (docs/spec.md §3.1).
 */
export function gradScaleOf(reduction: CrossEntropyTask['reduction'], normalizer: number): number {
  const gradScale = reduction === 'mean' ? (normalizer === 0 ? 0 : 1 / normalizer) : 1;
  if (!(Math.abs(gradScale) <= FLOAT32_MAX)) {
    throw new RangeError(
      `weight: the 'mean' normalizer (the sum of the target classes' weights) is ${normalizer}, too close to 0 ` +
        `for float32 (its inverse overflows); scale the weights up`,
    );
  }
  return gradScale;
}

/** Every input in the arena, the targets checked: what the kernel calls read. */
function putInputs(inst: WasmInstance, t: CrossEntropyTask) {
  const ws = inst.arena;
  const n = t.b * t.c * t.hw;
  const logits = ws.put(t.logits),
    weights = ws.putF32(t.weight);
  const scratch = ws.alloc(32 + 96 * t.c),
    status = ws.alloc(4);
  const target = ws.put(t.target ?? (t.targetProbs as Float32Array));
  let normalizer = t.b * t.hw;
  if (t.target) normalizer = scanTargets(inst, { ...t, kind: 'ceTargets', target: t.target }, target);
  else reportNonFinite(t.targetProbs as Float32Array, 'targetProbs', inst.kernels.findNonFinite(target, n));
  const grad = t.grad ? ws.alloc(n * 4) : 0,
    per = t.reduction === 'none' ? ws.alloc(t.b * t.hw * 4) : 0;
  return { logits, weights, scratch, status, target, normalizer, grad, per };
}

export function* crossEntropy(inst: WasmInstance, t: CrossEntropyTask): Generator<number, CrossEntropyTaskResult> {
  const { arena: ws, kernels: k } = inst;
  const { b, c, hw } = t;
  const n = b * c * hw;
  const at = putInputs(inst, t);
  const gradScale = gradScaleOf(t.reduction, at.normalizer);
  const targetBytes = t.target ? t.target.BYTES_PER_ELEMENT : 4 * c;
  const perStep = Math.max(1, Math.floor(LOGITS_PER_STEP / (c * hw)));
  let sum = 0;
  for (let i0 = 0; i0 < b; i0 += perStep) {
    const images = Math.min(perStep, b - i0);
    const from = (ptr: number, perImage: number) => (ptr === 0 ? 0 : ptr + i0 * perImage);
    const logits = from(at.logits, c * hw * 4),
      target = from(at.target, hw * targetBytes);
    const tail = [from(at.per, hw * 4), from(at.grad, c * hw * 4), at.scratch, at.status] as const;
    sum += t.target
      ? k.crossEntropyIndex(
          logits,
          target,
          targetKind(t.target),
          at.weights,
          images,
          c,
          hw,
          t.ignoreIndex,
          t.smoothing,
          gradScale,
          ...tail,
        )
      : k.crossEntropyProbs(logits, target, at.weights, images, c, hw, t.smoothing, gradScale, ...tail);
    // The kernels check the logits as they go (a sum that is finite iff they all are, unless it
    // overflowed): only then is the culprit looked for, and a call without one goes on.
    if (!Number.isFinite(ws.f32(at.status, 1)[0]))
      reportNonFinite(t.logits, 'logits', k.findNonFinite(logits, images * c * hw), i0 * c * hw);
    yield images * c * hw;
  }
  const result: CrossEntropyTaskResult = { sum, normalizer: at.normalizer };
  if (at.per) result.per = ws.copyF32(at.per, b * hw);
  if (t.grad) {
    if (t.gradInto) t.gradInto.set(ws.f32(at.grad, n));
    result.grad = t.gradInto ?? ws.copyF32(at.grad, n);
  }
  return result;
}
