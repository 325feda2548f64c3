// The losses for a page's main thread that wants the engine's workers: a sync op there runs in the
// calling thread (it may not wait for workers), so these run in two phases instead — the engine
// evaluates value and gradient with `await` (on workers), then a tf.customGrad op applies them on
// the tape. The forward then runs twice (once for the engine, once on the tape), so it must be
// deterministic (docs/tfjs.md, "A page's main thread").

import * as tf from '@tensorflow/tfjs-core';
import type { CflObjectiveResult, CrossEntropyResult, Engine, InfoNCEResult, PatchContrastResult } from '../types.js';
import { type CrossEntropyTarget, checkInput, checkMask, type MaskInput, maskValues, readTarget } from './inputs.js';
import type {
  CflObjectiveTfjsOptions,
  CrossEntropyTfjsOptions,
  InfoNCETfjsOptions,
  PatchContrastTfjsOptions,
} from './ops.js';

/** What runs the losses: an Engine (its async methods). */
export type LossRunner = Pick<Engine, 'crossEntropy' | 'patchContrast' | 'infoNCE' | 'cflObjective'>;

/** Where the time of one evaluation went, and how many bytes crossed between TF.js and the engine. */
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
 * gradient is the engine's.
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

type NoLayout<O> = Omit<O, 'dataFormat'>;

/** The four losses, evaluated by an engine's async calls (NCHW inputs). */
export interface MainThreadLosses {
  crossEntropy(
    logits: tf.Tensor,
    target: CrossEntropyTarget,
    options?: NoLayout<CrossEntropyTfjsOptions> & { reduction?: 'mean' | 'sum' },
  ): Promise<BoundLoss<CrossEntropyResult, [tf.Tensor]>>;
  patchContrast(
    features: tf.Tensor,
    mask: MaskInput,
    options?: NoLayout<PatchContrastTfjsOptions>,
  ): Promise<BoundLoss<PatchContrastResult, [tf.Tensor]>>;
  infoNCE(
    features: tf.Tensor,
    mask: MaskInput,
    options?: NoLayout<InfoNCETfjsOptions>,
  ): Promise<BoundLoss<InfoNCEResult, [tf.Tensor]>>;
  cflObjective(
    logits: tf.Tensor,
    features: tf.Tensor,
    mask: MaskInput,
    options?: NoLayout<CflObjectiveTfjsOptions>,
  ): Promise<BoundLoss<CflObjectiveResult, [tf.Tensor, tf.Tensor]>>;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());

/** One tf.customGrad op over precomputed value and gradients. */
function bind<R extends { loss: number | Float32Array; grad?: unknown }, Args extends tf.Tensor[]>(
  result: R,
  grads: Float32Array[],
  shapes: number[][],
  cost: Omit<TransferCost, 'writeMs' | 'bytesOut'>,
  what: string,
): BoundLoss<R, Args> {
  const start = now();
  const gradTensors = grads.map((g, i) => tf.tensor(g, shapes[i], 'float32'));
  const value = result.loss as number;
  const { grad: _, ...rest } = result;
  let disposed = false;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    (args.slice(0, shapes.length) as tf.Tensor[]).forEach((t, i) => {
      if (t.shape.join() !== shapes[i].join())
        throw new RangeError(
          `${what}: this loss was evaluated for shape ${shapeText(shapes[i])} (argument ${i + 1}); got ` +
            `${shapeText(t.shape)}. Evaluate it again for new inputs.`,
        );
    });
    // dy is 1 for the loss itself; another value when the loss is scaled or summed with others.
    return { value: tf.scalar(value), gradFunc: (dy: tf.Tensor) => gradTensors.map((g) => tf.mul(dy, g)) };
  });
  const bound = ((...inputs: Args): tf.Scalar => {
    if (disposed) throw new Error(`${what}: this loss has been disposed`);
    if (inputs.length !== shapes.length)
      throw new TypeError(`${what}: expected ${shapes.length} tensor argument(s); got ${inputs.length}`);
    return op(...inputs) as tf.Scalar;
  }) as BoundLoss<R, Args>;
  const bytesOut = grads.reduce((n, g) => n + g.byteLength, 0);
  Object.defineProperties(bound, {
    value: { value, enumerable: true },
    result: { value: rest, enumerable: true },
    shapes: { value: shapes, enumerable: true },
    cost: { value: { ...cost, bytesOut, writeMs: now() - start }, enumerable: true },
    dispose: {
      value: () => {
        if (!disposed) tf.dispose(gradTensors);
        disposed = true;
      },
    },
  });
  return bound;
}

const byteLength = (...arrays: (ArrayBufferView | undefined)[]): number =>
  arrays.reduce((n, a) => n + (a?.byteLength ?? 0), 0);

/** Reads the inputs (one await), calls the engine, and binds its result. */
async function evaluate<R extends { loss: number | Float32Array; grad?: unknown }, Args extends tf.Tensor[]>(
  what: string,
  inputs: Args,
  mask: tf.Tensor | Float32Array | Uint8Array | undefined,
  run: (values: Float32Array[], mask: Float32Array | Uint8Array | undefined) => Promise<R>,
  gradsOf: (r: R) => Float32Array[],
): Promise<BoundLoss<R, Args>> {
  const t0 = now();
  const values = (await Promise.all(inputs.map((t) => t.data()))) as Float32Array[];
  const m = mask instanceof tf.Tensor ? maskValues((await mask.data()) as Float32Array | Int32Array) : mask;
  const t1 = now();
  const r = await run(values, m);
  const cost = { bytesIn: byteLength(...values, m), readMs: t1 - t0, engineMs: now() - t1 };
  return bind<R, Args>(
    r,
    gradsOf(r),
    inputs.map((t) => t.shape),
    cost,
    what,
  );
}

/** The four losses over an engine's async calls (on its workers, where it has them). */
export function mainThreadLosses(engine: LossRunner): MainThreadLosses {
  return {
    async crossEntropy(logits, target, options = {}) {
      if ((options.reduction as string | undefined) === 'none')
        throw new RangeError("crossEntropy: reduction 'none' gives no scalar to differentiate; use 'mean' or 'sum'");
      const shape = checkInput(logits, 'logits', 'channelsFirst');
      const targets = readTarget(target, shape, 'channelsFirst');
      const run = ([v]: Float32Array[]) =>
        engine.crossEntropy({ ...options, ...targets, logits: v, shape, grad: true });
      return evaluate('crossEntropy', [logits] as [tf.Tensor], undefined, run, (r) => [r.grad!.logits]);
    },
    async patchContrast(features, mask, options = {}) {
      const shape = checkInput(features, 'features', 'channelsFirst');
      const checked = checkMask(mask, shape, 'features', 'channelsFirst');
      const run = ([v]: Float32Array[], m?: Float32Array | Uint8Array) =>
        engine.patchContrast({ ...options, features: v, mask: m!, shape, grad: true });
      return evaluate('patchContrast', [features] as [tf.Tensor], checked, run, (r) => [r.grad!.features]);
    },
    async infoNCE(features, mask, options = {}) {
      const shape = checkInput(features, 'features', 'channelsFirst');
      const checked = checkMask(mask, shape, 'features', 'channelsFirst');
      const run = ([v]: Float32Array[], m?: Float32Array | Uint8Array) =>
        engine.infoNCE({ ...options, features: v, mask: m!, shape, grad: true });
      return evaluate('infoNCE', [features] as [tf.Tensor], checked, run, (r) => [r.grad!.features]);
    },
    async cflObjective(logits, features, mask, options = {}) {
      const shape = checkInput(features, 'features', 'channelsFirst');
      const [b, , h, w] = shape;
      if (checkInput(logits, 'logits', 'channelsFirst').join() !== [b, 2, h, w].join())
        throw new RangeError(`cflObjective: logits must have shape [B, 2, H, W] = ${shapeText([b, 2, h, w])}`);
      const checked = checkMask(mask, shape, 'features', 'channelsFirst');
      const run = ([l, f]: Float32Array[], m?: Float32Array | Uint8Array) =>
        engine.cflObjective({ ...options, logits: l, features: f, mask: m!, shape, grad: true });
      const grads = (r: CflObjectiveResult) => [r.grad!.logits, r.grad!.features];
      return evaluate('cflObjective', [logits, features] as [tf.Tensor, tf.Tensor], checked, run, grads);
    },
  };
}

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

/** Runs `forward` eagerly and evaluates `loss` on its output with the engine. */
async function evaluateForward<R, O extends ForwardOutput>(
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
 * tf.variableGrads in two phases: `{ value, grads }` with grads of the trainable variables (or
 * `varList`); `forward` runs twice and must be deterministic. The caller disposes `grads`.
 */
export async function mainThreadVariableGrads<R, O extends ForwardOutput>(
  forward: () => O,
  loss: (outputs: O) => Promise<AnyBoundLoss<R>>,
  varList?: tf.Variable[],
): Promise<StepResult<R> & { grads: tf.NamedTensorMap }> {
  const bound = await evaluateForward(forward, loss);
  try {
    const { value, grads } = tf.variableGrads(() => callBound(bound, forward()), varList);
    value.dispose();
    return { value: bound.value, result: bound.result, cost: bound.cost, grads };
  } finally {
    bound.dispose();
  }
}

/** optimizer.minimize in two phases: one training step; resolves to the loss before the step. */
export async function mainThreadMinimize<R, O extends ForwardOutput>(
  optimizer: tf.Optimizer,
  forward: () => O,
  loss: (outputs: O) => Promise<AnyBoundLoss<R>>,
  varList?: tf.Variable[],
): Promise<StepResult<R>> {
  const bound = await evaluateForward(forward, loss);
  try {
    optimizer.minimize(() => callBound(bound, forward()), false, varList);
    return { value: bound.value, result: bound.result, cost: bound.cost };
  } finally {
    bound.dispose();
  }
}
