// forgery-losses/tfjs: the losses as functions of TF.js tensors, wired into TF.js autograd. A loss runs
// in two phases (TF.js records gradients synchronously, the engine answers with a Promise): evaluate
// with `await`, then apply as a tf.customGrad op. Usage, data movement and measurements: docs/tfjs.md.

import * as tf from '@tensorflow/tfjs-core';
import * as pkg from './index.js';
import type {
  CflObjectiveOptions,
  CflObjectiveResult,
  CrossEntropyOptions,
  CrossEntropyResult,
  Engine,
  InfoNCEOptions,
  InfoNCEResult,
  Mask,
  PatchContrastOptions,
  PatchContrastResult,
} from './types.js';

/** What runs the losses: an Engine from createEngine(), or the package's default one. */
export type LossRunner = Pick<Engine, 'crossEntropy' | 'patchContrast' | 'infoNCE' | 'cflObjective'>;

/** A mask: a (B, H, W) or (B, 1, H, W) tensor (float32 in [0, 1], int32 0/1 or bool), or the flat typed array. */
export type MaskInput = tf.Tensor | Mask;

/** Where the time of one adapter call went, and how many bytes crossed between TF.js and the engine. */
export interface TransferCost {
  /** Bytes read out of TF.js (inputs) and bytes handed back to it (gradients). */
  bytesIn: number;
  bytesOut: number;
  /** `await tensor.data()` of the inputs (zero-copy on the cpu backend, one download elsewhere). */
  readMs: number;
  /** The engine call: copies the inputs into its wasm memory, computes value and gradient, copies the gradient out. */
  engineMs: number;
  /** Making the gradient tensors (zero-copy on the cpu backend, one upload elsewhere). */
  writeMs: number;
}

/**
 * A loss evaluated by the engine at some input values: call it with tensors of the same shapes
 * and values (inside tf.variableGrads / optimizer.minimize) to get a scalar tensor whose
 * gradient is the engine's. `value` and `result` are readable without any tensor.
 */
export interface BoundLoss<R, Args extends tf.Tensor[]> {
  (...inputs: Args): tf.Scalar;
  /** The loss value (a float64 number, as the engine returned it). */
  readonly value: number;
  /** The engine's result, gradient arrays left out (they live in the gradient tensors). */
  readonly result: Omit<R, 'grad'>;
  /** The NCHW shapes the loss was evaluated at, in argument order. */
  readonly shapes: readonly number[][];
  readonly cost: TransferCost;
  /** Frees the gradient tensors; the loss cannot be called afterwards. Idempotent. */
  dispose(): void;
}

export type CrossEntropyTfjsOptions = Omit<
  CrossEntropyOptions,
  'logits' | 'shape' | 'target' | 'targetProbs' | 'grad' | 'reduction'
> & {
  reduction?: 'mean' | 'sum';
};
export type PatchContrastTfjsOptions = Omit<PatchContrastOptions, 'features' | 'mask' | 'shape' | 'grad'>;
export type InfoNCETfjsOptions = Omit<InfoNCEOptions, 'features' | 'mask' | 'shape' | 'grad'>;
export type CflObjectiveTfjsOptions = Omit<CflObjectiveOptions, 'logits' | 'features' | 'mask' | 'shape' | 'grad'>;

/**
 * Class indices (B, H, W) or (B, 1, H, W) as an int32 or bool tensor, or a typed array; or
 * `{ probs }`: (B, C, H, W) float32 probabilities.
 */
export type CrossEntropyTarget =
  | tf.Tensor
  | Int32Array
  | Uint8Array
  | Uint16Array
  | { probs: tf.Tensor | Float32Array };

export interface TfjsLosses {
  /** Pixel cross-entropy of (B, C, H, W) logits; reduction 'mean' (default) or 'sum'. Bound to (logits). */
  crossEntropy(
    logits: tf.Tensor,
    target: CrossEntropyTarget,
    options?: CrossEntropyTfjsOptions,
  ): Promise<BoundLoss<CrossEntropyResult, [tf.Tensor]>>;
  /** CFL-Net patch contrast of (B, C, H, W) features. Bound to (features). */
  patchContrast(
    features: tf.Tensor,
    mask: MaskInput,
    options?: PatchContrastTfjsOptions,
  ): Promise<BoundLoss<PatchContrastResult, [tf.Tensor]>>;
  /** FOCAL InfoNCE++ of (B, C, H, W) features. Bound to (features). */
  infoNCE(
    features: tf.Tensor,
    mask: MaskInput,
    options?: InfoNCETfjsOptions,
  ): Promise<BoundLoss<InfoNCEResult, [tf.Tensor]>>;
  /** CFL-Net objective of (B, 2, H, W) logits and (B, C, H, W) features. Bound to (logits, features). */
  cflObjective(
    logits: tf.Tensor,
    features: tf.Tensor,
    mask: MaskInput,
    options?: CflObjectiveTfjsOptions,
  ): Promise<BoundLoss<CflObjectiveResult, [tf.Tensor, tf.Tensor]>>;
}

// ---------------------------------------------------------------------------------------------
// Input checks: NCHW float32, with errors that say what to change.

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function checkNCHW(t: unknown, field: string): tf.Tensor {
  if (!(t instanceof tf.Tensor)) throw new TypeError(`${field} must be a tf.Tensor of shape [B, C, H, W] (NCHW)`);
  if (t.isDisposed) throw new TypeError(`${field} has been disposed`);
  if (t.rank !== 4)
    throw new RangeError(`${field} must be a rank-4 NCHW tensor [B, C, H, W]; got shape ${shapeText(t.shape)}`);
  if (t.dtype !== 'float32')
    throw new TypeError(`${field} must be float32; got ${t.dtype} (use tf.cast(${field}, 'float32'))`);
  return t;
}

/**
 * The (H, W) a (B, H, W) or (B, 1, H, W) label tensor gives, checked against the NCHW input's
 * B, H, W; an input whose dims 1 and 2 match instead is NHWC, and the error says how to fix it.
 */
function checkLabelShape(label: tf.Tensor, field: string, input: tf.Tensor, inputField: string): void {
  const [b, , h, w] = input.shape;
  const s = label.shape;
  const hw = s.length === 3 ? [s[1], s[2]] : s.length === 4 && s[1] === 1 ? [s[2], s[3]] : null;
  if (hw === null) throw new RangeError(`${field} must have shape [B, H, W] or [B, 1, H, W]; got ${shapeText(s)}`);
  if (s[0] === b && hw[0] === h && hw[1] === w) return;
  if (s[0] === b && hw[0] === input.shape[1] && hw[1] === input.shape[2]) {
    throw new RangeError(
      `${inputField} looks NHWC (shape ${shapeText(input.shape)}, ${field} ${shapeText(s)}); forgery-losses/tfjs ` +
        `takes NCHW [B, C, H, W]: pass tf.transpose(${inputField}, [0, 3, 1, 2])`,
    );
  }
  throw new RangeError(
    `${field} shape ${shapeText(s)} does not match ${inputField} [B, C, H, W] = ${shapeText(input.shape)}`,
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A mask tensor or typed array as the engine takes it (float32 or uint8, B·H·W values). */
async function readMask(mask: MaskInput, input: tf.Tensor, inputField: string): Promise<Mask> {
  if (mask instanceof Float32Array || mask instanceof Uint8Array) return mask;
  if (!(mask instanceof tf.Tensor))
    throw new TypeError('mask must be a tf.Tensor ([B, H, W] or [B, 1, H, W]), a Float32Array or a Uint8Array');
  checkLabelShape(mask, 'mask', input, inputField);
  const data = await mask.data();
  if (data instanceof Float32Array || data instanceof Uint8Array) return data;
  // int32: 0/1 values as uint8; anything else goes through as float so that the engine names it.
  return data.every((v) => v === 0 || v === 1)
    ? Uint8Array.from(data as Int32Array)
    : Float32Array.from(data as Int32Array);
}

async function readTarget(
  target: CrossEntropyTarget,
  logits: tf.Tensor,
): Promise<Pick<CrossEntropyOptions, 'target' | 'targetProbs'>> {
  if (target instanceof Int32Array || target instanceof Uint8Array || target instanceof Uint16Array) return { target };
  if (target instanceof tf.Tensor) {
    if (target.dtype !== 'int32' && target.dtype !== 'bool')
      throw new TypeError(
        `target must hold class indices as int32 or bool; got ${target.dtype} (use tf.cast(target, 'int32'), or ` +
          `pass { probs } for probabilities)`,
      );
    checkLabelShape(target, 'target', logits, 'logits');
    return { target: (await target.data()) as Int32Array | Uint8Array };
  }
  if (target !== null && typeof target === 'object' && 'probs' in target) {
    const probs = target.probs;
    if (probs instanceof Float32Array) return { targetProbs: probs };
    checkNCHW(probs, 'target.probs');
    if (!sameShape(probs.shape, logits.shape))
      throw new RangeError(
        `target.probs shape ${shapeText(probs.shape)} must equal the logits shape ${shapeText(logits.shape)}`,
      );
    return { targetProbs: (await probs.data()) as Float32Array };
  }
  throw new TypeError('target must be class indices (an int32/bool tensor or typed array) or { probs }');
}

// ---------------------------------------------------------------------------------------------
// The bound loss: one tf.customGrad op over precomputed value and gradients.

const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());

function bind<R extends { loss: number | Float32Array; grad?: unknown }, Args extends tf.Tensor[]>(
  result: R,
  grads: Float32Array[],
  shapes: number[][],
  cost: Omit<TransferCost, 'writeMs' | 'bytesOut'>,
  what: string,
): BoundLoss<R, Args> {
  const start = now();
  // The engine returns each gradient in an array of its own, which the cpu backend adopts without
  // a copy; a view into a larger buffer (wasm memory) would be copied first, never aliased.
  const owned = (g: Float32Array) => (g.byteOffset === 0 && g.byteLength === g.buffer.byteLength ? g : g.slice());
  const gradTensors = grads.map((g, i) => tf.tensor(owned(g), shapes[i], 'float32'));
  const value = result.loss as number;
  const { grad: _, ...rest } = result;
  let disposed = false;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const inputs = args.slice(0, shapes.length) as tf.Tensor[];
    inputs.forEach((t, i) => {
      if (!sameShape(t.shape, shapes[i])) {
        throw new RangeError(
          `${what}: this loss was evaluated for shape ${shapeText(shapes[i])} (argument ${i + 1}); got ` +
            `${shapeText(t.shape)}. Evaluate it again for new inputs.`,
        );
      }
    });
    return {
      value: tf.scalar(value),
      // dy is 1 for the loss itself; another value when the loss is scaled or summed with others.
      gradFunc: (dy: tf.Tensor) => gradTensors.map((g) => tf.mul(dy, g)),
    };
  });

  const bound = ((...inputs: Args): tf.Scalar => {
    if (disposed) throw new Error(`${what}: this loss has been disposed`);
    if (inputs.length !== shapes.length)
      throw new TypeError(`${what}: expected ${shapes.length} tensor argument(s); got ${inputs.length}`);
    inputs.forEach((t, i) => {
      if (!(t instanceof tf.Tensor)) throw new TypeError(`${what}: argument ${i + 1} must be a tf.Tensor`);
    });
    return op(...inputs) as tf.Scalar;
  }) as BoundLoss<R, Args>;
  const writeMs = now() - start;
  Object.defineProperties(bound, {
    value: { value, enumerable: true },
    result: { value: rest, enumerable: true },
    shapes: { value: shapes, enumerable: true },
    cost: { value: { ...cost, bytesOut: grads.reduce((n, g) => n + g.byteLength, 0), writeMs }, enumerable: true },
    dispose: {
      value: () => {
        if (disposed) return;
        disposed = true;
        tf.dispose(gradTensors);
      },
    },
  });
  return bound;
}

const byteLength = (...arrays: (ArrayBufferView | undefined)[]): number =>
  arrays.reduce((n, a) => n + (a?.byteLength ?? 0), 0);

/** The four losses over one runner (an Engine, or the package's default engine when omitted). */
export function tfjsLosses(runner: LossRunner | Promise<LossRunner> = pkg): TfjsLosses {
  const engine = async (): Promise<LossRunner> => runner;
  return {
    async crossEntropy(logits, target, options = {}) {
      checkNCHW(logits, 'logits');
      if ((options.reduction as string | undefined) === 'none')
        throw new RangeError("crossEntropy: reduction 'none' gives no scalar to differentiate; use 'mean' or 'sum'");
      const t0 = now();
      const [logitsData, targets] = await Promise.all([
        logits.data() as Promise<Float32Array>,
        readTarget(target, logits),
      ]);
      const t1 = now();
      const shape = logits.shape as [number, number, number, number];
      const r = await (await engine()).crossEntropy({ ...options, ...targets, logits: logitsData, shape, grad: true });
      const cost = {
        bytesIn: byteLength(logitsData, targets.target, targets.targetProbs),
        readMs: t1 - t0,
        engineMs: now() - t1,
      };
      return bind<CrossEntropyResult, [tf.Tensor]>(r, [r.grad!.logits], [logits.shape], cost, 'crossEntropy');
    },

    async patchContrast(features, mask, options = {}) {
      checkNCHW(features, 'features');
      const t0 = now();
      const [data, m] = await Promise.all([
        features.data() as Promise<Float32Array>,
        readMask(mask, features, 'features'),
      ]);
      const t1 = now();
      const shape = features.shape as [number, number, number, number];
      const r = await (await engine()).patchContrast({ ...options, features: data, mask: m, shape, grad: true });
      const cost = { bytesIn: byteLength(data, m), readMs: t1 - t0, engineMs: now() - t1 };
      return bind<PatchContrastResult, [tf.Tensor]>(r, [r.grad!.features], [features.shape], cost, 'patchContrast');
    },

    async infoNCE(features, mask, options = {}) {
      checkNCHW(features, 'features');
      const t0 = now();
      const [data, m] = await Promise.all([
        features.data() as Promise<Float32Array>,
        readMask(mask, features, 'features'),
      ]);
      const t1 = now();
      const shape = features.shape as [number, number, number, number];
      const r = await (await engine()).infoNCE({ ...options, features: data, mask: m, shape, grad: true });
      const cost = { bytesIn: byteLength(data, m), readMs: t1 - t0, engineMs: now() - t1 };
      return bind<InfoNCEResult, [tf.Tensor]>(r, [r.grad!.features], [features.shape], cost, 'infoNCE');
    },

    async cflObjective(logits, features, mask, options = {}) {
      checkNCHW(logits, 'logits');
      checkNCHW(features, 'features');
      const [b, , h, w] = features.shape;
      if (!sameShape(logits.shape, [b, 2, h, w]))
        throw new RangeError(
          `cflObjective: logits must have shape [B, 2, H, W] = ${shapeText([b, 2, h, w])} (features ` +
            `${shapeText(features.shape)}); got ${shapeText(logits.shape)}`,
        );
      const t0 = now();
      const [l, f, m] = await Promise.all([
        logits.data() as Promise<Float32Array>,
        features.data() as Promise<Float32Array>,
        readMask(mask, features, 'features'),
      ]);
      const t1 = now();
      const shape = features.shape as [number, number, number, number];
      const r = await (await engine()).cflObjective({ ...options, logits: l, features: f, mask: m, shape, grad: true });
      const cost = { bytesIn: byteLength(l, f, m), readMs: t1 - t0, engineMs: now() - t1 };
      return bind<CflObjectiveResult, [tf.Tensor, tf.Tensor]>(
        r,
        [r.grad!.logits, r.grad!.features],
        [logits.shape, features.shape],
        cost,
        'cflObjective',
      );
    },
  };
}

const defaultLosses = tfjsLosses();

/** Over the package's default engine (one thread); `tfjsLosses(await createEngine(...))` for another. */
export const { crossEntropy, patchContrast, infoNCE, cflObjective } = defaultLosses;

// ---------------------------------------------------------------------------------------------
// Whole training steps.

/** What `forward` returns: the loss's tensor argument(s). */
export type ForwardOutput = tf.Tensor | tf.Tensor[];

export interface StepResult<R> {
  value: number;
  result: Omit<R, 'grad'>;
  cost: TransferCost;
}

/** Any bound loss, whatever its arguments (what the step helpers accept). */
export type AnyBoundLoss<R> = BoundLoss<R, never>;

const asArray = (o: ForwardOutput): tf.Tensor[] => (Array.isArray(o) ? o : [o]);
const callBound = <R>(bound: AnyBoundLoss<R>, o: ForwardOutput): tf.Scalar =>
  (bound as unknown as (...inputs: tf.Tensor[]) => tf.Scalar)(...asArray(o));

/**
 * Runs `forward` eagerly, evaluates `loss` on its output with the engine, then runs `forward`
 * again on TF.js's gradient tape with the bound loss on top. `forward` must be deterministic
 * (no dropout drawn differently on the second run): the gradient is the one at the first
 * run's values.
 */
async function evaluate<R, O extends ForwardOutput>(
  forward: () => O,
  loss: (outputs: O) => Promise<AnyBoundLoss<R>>,
): Promise<AnyBoundLoss<R>> {
  const outputs = tf.tidy(forward);
  try {
    return await loss(outputs);
  } finally {
    tf.dispose(outputs);
  }
}

/**
 * tf.variableGrads for an engine loss: `{ value, grads }` with grads of the trainable
 * variables (or `varList`). The caller disposes `grads`.
 */
export async function variableGrads<R, O extends ForwardOutput>(
  forward: () => O,
  loss: (outputs: O) => Promise<AnyBoundLoss<R>>,
  varList?: tf.Variable[],
): Promise<StepResult<R> & { grads: tf.NamedTensorMap }> {
  const bound = await evaluate(forward, loss);
  try {
    const { value, grads } = tf.variableGrads(() => callBound(bound, forward()), varList);
    value.dispose();
    return { value: bound.value, result: bound.result, cost: bound.cost, grads };
  } finally {
    bound.dispose();
  }
}

/** optimizer.minimize for an engine loss: one training step; resolves to the loss before the step. */
export async function minimize<R, O extends ForwardOutput>(
  optimizer: tf.Optimizer,
  forward: () => O,
  loss: (outputs: O) => Promise<AnyBoundLoss<R>>,
  varList?: tf.Variable[],
): Promise<StepResult<R>> {
  const bound = await evaluate(forward, loss);
  try {
    optimizer.minimize(() => callBound(bound, forward()), false, varList);
    return { value: bound.value, result: bound.result, cost: bound.cost };
  } finally {
    bound.dispose();
  }
}
