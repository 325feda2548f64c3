// crossEntropy: torch.nn.functional.cross_entropy on (B, C, H, W) logits (spec section 3).

import type { CrossEntropyOptions, CrossEntropyResult } from '../types';
import {
  checkBoolean,
  checkChoice,
  checkFloat32,
  checkOptions,
  checkShape,
  FLOAT32_MAX,
  optionalNumber,
  reportNonFinite,
} from '../validate';
import { ARENA_SLACK, checkMemoryBudget, type MemoryNeed, type WasmContext } from './context';

const TARGET_KIND = { int32: 0, uint8: 1, uint16: 2 } as const;

export interface ParsedCrossEntropy {
  b: number;
  c: number;
  hw: number;
  logits: Float32Array;
  target?: Int32Array | Uint8Array | Uint16Array;
  targetProbs?: Float32Array;
  weight: Float64Array;
  ignoreIndex: number;
  reduction: 'mean' | 'sum' | 'none';
  smoothing: number;
  grad: boolean;
}

function parse(options: CrossEntropyOptions): ParsedCrossEntropy {
  const o = checkOptions(options, 'crossEntropy');
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
  return {
    b,
    c,
    hw,
    logits,
    target,
    targetProbs,
    weight,
    ignoreIndex,
    reduction,
    smoothing,
    grad: checkBoolean(o.grad, 'grad', true),
  };
}

/**
 * Wasm memory of one call: the logits, float32 weights, the tail scratch (32 + 96·C bytes) and the status;
 * index targets: the caller's targets (read in place by the kernels), float64 weights, the normalizer, the
 * per-class counts and the kernel's four histograms (4·(C + 1) bytes each); or the probabilities;
 * then the gradient and the per-element losses ('none').
 */
function memoryNeeded(p: ParsedCrossEntropy): MemoryNeed {
  const e = p.b * p.hw,
    n = e * p.c * 4;
  const targets = p.target ? e * p.target.BYTES_PER_ELEMENT + 8 * p.c + 8 + 20 * (p.c + 1) : n;
  return n + 100 * p.c + 32 + 4 + targets + (p.grad ? n : 0) + (p.reduction === 'none' ? 4 * e : 0) + ARENA_SLACK;
}

/** Validates, then computes the loss and (unless grad: false) its gradient w.r.t. the logits. */
export function runCrossEntropy(
  ctx: WasmContext,
  options: CrossEntropyOptions,
): CrossEntropyResult | Promise<CrossEntropyResult> {
  const p = parse(options);
  if (ctx.executor.crossEntropy) {
    // The executor's own path (WebGPU): same validation, same result shape.
    return ctx.executor.crossEntropy(p).then(({ loss, grad }) => {
      const result: CrossEntropyResult = { loss, backend: ctx.backend };
      if (grad) result.grad = { logits: grad };
      return result;
    });
  }
  const need = memoryNeeded(p);
  checkMemoryBudget(ctx, need, 'crossEntropy');
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
    // Index targets stay in their own type (uint8 masks stay 1 byte a pixel): the kernels read it.
    const kind =
      p.target instanceof Int32Array
        ? TARGET_KIND.int32
        : p.target instanceof Uint8Array
          ? TARGET_KIND.uint8
          : TARGET_KIND.uint16;
    if (p.target) {
      targetPtr = ws.put(p.target);
      const weightsF64 = ws.putF64(p.weight);
      const normPtr = ws.alloc(8);
      const bad = k.crossEntropyPrepareTargets(
        targetPtr,
        kind,
        b * hw,
        c,
        p.ignoreIndex,
        weightsF64,
        normPtr,
        ws.alloc(4 * (c + 1)),
      );
      if (bad >= 0)
        throw new RangeError(
          `target[${bad}] = ${p.target[bad]}: class indices must lie in [0, ${c}) or equal ignoreIndex ` +
            `(${p.ignoreIndex})`,
        );
      normalizer = ws.f64(normPtr, 1)[0];
    } else {
      targetPtr = ws.put(p.targetProbs as Float32Array);
      reportNonFinite(p.targetProbs as Float32Array, 'targetProbs', k.findNonFinite(targetPtr, n));
      normalizer = b * hw;
    }
    // The mean's gradient scale; a zero normalizer gives a NaN loss and a zero gradient (spec 3).
    const gradScale = p.reduction === 'mean' ? (normalizer === 0 ? 0 : 1 / normalizer) : 1;
    if (!(Math.abs(gradScale) <= FLOAT32_MAX)) {
      throw new RangeError(
        `weight: the 'mean' normalizer (the sum of the target classes' weights) is ${normalizer}, too close to 0 ` +
          `for float32 (its inverse overflows); scale the weights up`,
      );
    }
    const gradPtr = p.grad ? ws.alloc(n * 4) : 0;
    const perPtr = p.reduction === 'none' ? ws.alloc(b * hw * 4) : 0;
    const sum = p.target
      ? k.crossEntropyIndex(
          logitsPtr,
          targetPtr,
          kind,
          weightsF32,
          b,
          c,
          hw,
          p.ignoreIndex,
          p.smoothing,
          gradScale,
          perPtr,
          gradPtr,
          scratch,
          status,
        )
      : k.crossEntropyProbs(
          logitsPtr,
          targetPtr,
          weightsF32,
          b,
          c,
          hw,
          p.smoothing,
          gradScale,
          perPtr,
          gradPtr,
          scratch,
          status,
        );
    // The kernels check the logits as they go (a sum that is finite iff they all are, unless it
    // overflowed): only then is the culprit looked for, and a call without one goes on.
    if (!Number.isFinite(ws.f32(status, 1)[0])) reportNonFinite(p.logits, 'logits', k.findNonFinite(logitsPtr, n));
    const mean = normalizer === 0 ? Number.NaN : sum / normalizer;
    const loss = p.reduction === 'none' ? ws.copyF32(perPtr, b * hw) : p.reduction === 'sum' ? sum : mean;
    const result: CrossEntropyResult = { loss, backend: ctx.backend };
    if (p.grad) result.grad = { logits: ws.copyF32(gradPtr, n) };
    return result;
  } finally {
    ws.reset();
  }
}
