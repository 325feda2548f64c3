// The losses as synchronous TF.js ops (docs/tfjs.md): each is one tf.customGrad over the engine's
// sync call, so it sits on TF.js's gradient tape like any op — one forward pass per step, whatever
// the forward does. The forward takes its inputs once (read, or on TF.js's webgpu backend left on
// the GPU: on-device.ts), asks the engine for the value and (when the tape records) the gradient,
// which it saves as a tensor for the backward pass. Channels-last inputs are transposed to NCHW by
// TF.js, which carries the gradient back.

import * as tf from '@tensorflow/tfjs-core';
import type {
  CflObjectiveOptions,
  CrossEntropyOptions,
  InfoNCEOptions,
  PatchContrastOptions,
  GpuData,
  GpuOutput,
  Shape4,
} from '../types.js';
import { checkOptions } from '../validate.js';
import { engineFor } from './engine.js';
import {
  type CrossEntropyTarget,
  checkInput,
  type DataFormat,
  dataFormatOf,
  type MaskInput,
  readMask,
  readTarget,
  valuesOf,
} from './inputs.js';
import { deviceOf, takeOnGpu, tensorOf } from './on-device.js';

type Layout = { dataFormat?: DataFormat };
type Engine = ReturnType<typeof engineFor>;

export type CrossEntropyTfjsOptions = Pick<
  CrossEntropyOptions,
  'weight' | 'ignoreIndex' | 'reduction' | 'labelSmoothing'
> &
  Layout;
export type PatchContrastTfjsOptions = Pick<PatchContrastOptions, 'patchSize' | 'temperature' | 'variant'> & Layout;
export type InfoNCETfjsOptions = Pick<InfoNCEOptions, 'temperature' | 'positive' | 'sample' | 'scope'> & Layout;
export type CflObjectiveTfjsOptions = Pick<CflObjectiveOptions, 'weight' | 'alpha' | 'patchSize' | 'temperature'> &
  Layout;

/** An input as the engine takes it: its values, or its buffer on TF.js's device. */
type Input = Float32Array | GpuData;

/** What an op's forward gets from the engine: the value, and the gradients while the tape records. */
interface Evaluated {
  loss: number | Float32Array | GpuOutput;
  grads?: (Float32Array | GpuOutput)[];
}

/** Whether TF.js records gradients now (an op then asks the engine for its gradient too). */
function recording(): boolean {
  const state = (tf.engine() as { state?: { gradientDepth?: number } }).state;
  return state?.gradientDepth === undefined || state.gradientDepth > 0;
}

/** ∂(dy · loss)/∂input from the saved gradients: dy a scalar, or per element ((B, H, W), broadcast over C). */
function backward(what: string, saved: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  if (saved.length === 0)
    throw new Error(`forgery-losses/tfjs: internal error: ${what} was evaluated without its gradient`);
  return saved.map((grad) => (dy.rank === 0 ? tf.mul(dy, grad) : tf.mul(grad, tf.expandDims(dy, 1))));
}

/** The inputs of one forward, read or (on TF.js's device) taken on the GPU; `release` after the call. */
function takeInputs(xs: tf.Tensor[], device: GPUDevice | undefined): { values: Input[]; release(): void } {
  if (!device) return { values: xs.map(valuesOf) as Input[], release: () => {} };
  const taken = xs.map((x) => takeOnGpu(x, device));
  const release = () => {
    for (const t of taken) t.release();
  };
  return { values: taken.map((t) => t.data) as Input[], release };
}

/**
 * One engine call as a tf.customGrad op over NCHW `inputs`: `evaluate` gets them as the engine
 * takes them and whether to compute the gradient; a per-element loss ('none') has shape `perElement`.
 */
function engineOp(
  what: string,
  engine: Engine,
  inputs: tf.Tensor[],
  evaluate: (values: Input[], grad: boolean) => Evaluated,
  perElement: number[] = [],
): tf.Tensor {
  const device = deviceOf(engine);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    const save = args[inputs.length] as tf.GradSaveFunc;
    const taken = takeInputs(xs, device);
    let evaluated: Evaluated;
    try {
      evaluated = evaluate(taken.values, recording());
    } finally {
      taken.release();
    }
    const value = tensorOf(evaluated.loss, perElement);
    // Made tensors now: a result buffer of the engine's is reused by its next call.
    if (evaluated.grads) save(evaluated.grads.map((g, i) => tensorOf(g, xs[i].shape)));
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(what, saved, dy) };
  });
  return op(...inputs);
}

/** `inputs` in NCHW (channels-last ones transposed, on the tape), then the op, in one tidy. */
function inNchw(format: DataFormat, inputs: tf.Tensor[], op: (nchw: tf.Tensor[]) => tf.Tensor): tf.Tensor {
  if (format === 'channelsFirst') return op(inputs);
  return tf.tidy(() => op(inputs.map((x) => tf.transpose(x, [0, 3, 1, 2]))));
}

/**
 * An engine error that names an element of `field` by its NCHW index, named by its index in the
 * caller's channels-last layout instead.
 */
function inCallerLayout(error: unknown, field: string, [, c, h, w]: Shape4, format: DataFormat): unknown {
  if (!(error instanceof RangeError) || format === 'channelsFirst') return error;
  const m = new RegExp(`^${field}\\[(\\d+)\\]`).exec(error.message);
  if (!m) return error;
  const i = Number(m[1]);
  const [b, ch, y, x] = [Math.floor(i / (c * h * w)), Math.floor(i / (h * w)) % c, Math.floor(i / w) % h, i % w];
  return new RangeError(error.message.replace(m[0], `${field}[${((b * h + y) * w + x) * c + ch}]`));
}

/** Calls the engine, its errors about `field` in the caller's layout. */
function call<R>(run: () => R, field: string, shape: Shape4, format: DataFormat): R {
  try {
    return run();
  } catch (error) {
    throw inCallerLayout(error, field, shape, format);
  }
}

/** An op's options, strict (an unknown key is a TypeError), and their layout. */
function optionsOf<O extends Layout>(options: O | undefined, op: string, known: readonly string[]) {
  const { dataFormat, ...rest } = checkOptions(options ?? {}, op, [...known, 'dataFormat']) as O;
  return { format: dataFormatOf(dataFormat), rest };
}

/** An engine's sync call as the ops make it: host or device inputs alike (its overloads pick by their type). */
type SyncCall = (options: Record<string, unknown>) => {
  loss: number | Float32Array | GpuOutput;
  grad?: Record<string, Float32Array | GpuOutput>;
};

function syncCall(engine: Engine, loss: 'crossEntropy' | 'patchContrast' | 'infoNCE' | 'cflObjective'): SyncCall {
  const loose = engine as unknown as Record<string, SyncCall>;
  return (options) => loose[`${loss}Sync`](options);
}

/** Pixel cross-entropy of (B, C, H, W) logits (or (B, H, W, C)): a scalar, or (B, H, W) for reduction 'none'. */
export function crossEntropy(
  logits: tf.Tensor,
  target: CrossEntropyTarget,
  options?: CrossEntropyTfjsOptions,
): tf.Tensor {
  const engine = engineFor('crossEntropy');
  const known = ['weight', 'ignoreIndex', 'reduction', 'labelSmoothing'];
  const { format, rest } = optionsOf(options, 'crossEntropy', known);
  const shape = checkInput(logits, 'logits', format);
  const targets = readTarget(target, shape, format, deviceOf(engine));
  const perElement = rest.reduction === 'none' ? [shape[0], shape[2], shape[3]] : undefined;
  const sync = syncCall(engine, 'crossEntropy');
  try {
    return inNchw(format, [logits], ([x]) =>
      engineOp(
        'crossEntropy',
        engine,
        [x],
        ([values], grad) => {
          const options = { ...rest, ...targets.values, logits: values, shape, grad };
          const r = call(() => sync(options), 'logits', shape, format);
          return { loss: r.loss, grads: r.grad && [r.grad.logits] };
        },
        perElement,
      ),
    );
  } finally {
    targets.release();
  }
}

/** One-input contrastive op (patchContrast, infoNCE). */
function contrastOp(
  what: 'patchContrast' | 'infoNCE',
  features: tf.Tensor,
  mask: MaskInput,
  options: Record<string, unknown> | undefined,
  known: string[],
): tf.Scalar {
  const engine: Engine = engineFor(what);
  const { format, rest } = optionsOf(options, what, known);
  const shape = checkInput(features, 'features', format);
  const m = readMask(mask, shape, 'features', format);
  const sync = syncCall(engine, what);
  return inNchw(format, [features], ([x]) =>
    engineOp(what, engine, [x], ([values], grad) => {
      const r = call(() => sync({ ...rest, features: values, mask: m, shape, grad }), 'features', shape, format);
      return { loss: r.loss, grads: r.grad && [r.grad.features] };
    }),
  ) as tf.Scalar;
}

/** CFL-Net's patch contrastive loss of (B, C, H, W) features (or (B, H, W, C)): a scalar. */
export function patchContrast(features: tf.Tensor, mask: MaskInput, options?: PatchContrastTfjsOptions): tf.Scalar {
  return contrastOp('patchContrast', features, mask, options, ['patchSize', 'temperature', 'variant']);
}

/** FOCAL's InfoNCE++ of (B, C, H, W) features (or (B, H, W, C)): a scalar. */
export function infoNCE(features: tf.Tensor, mask: MaskInput, options?: InfoNCETfjsOptions): tf.Scalar {
  return contrastOp('infoNCE', features, mask, options, ['temperature', 'positive', 'sample', 'scope']);
}

/** The CFL-Net objective of (B, 2, H, W) logits and (B, C, H, W) features (or channels-last): a scalar. */
export function cflObjective(
  logits: tf.Tensor,
  features: tf.Tensor,
  mask: MaskInput,
  options?: CflObjectiveTfjsOptions,
): tf.Scalar {
  const engine = engineFor('cflObjective');
  const { format, rest } = optionsOf(options, 'cflObjective', ['weight', 'alpha', 'patchSize', 'temperature']);
  const shape = checkInput(features, 'features', format);
  const logitsShape = checkInput(logits, 'logits', format);
  const [b, , h, w] = shape;
  if (logitsShape.join() !== [b, 2, h, w].join())
    throw new RangeError(
      `cflObjective: logits must have 2 channels and the features' B, H, W (NCHW [${[b, 2, h, w].join(', ')}]); ` +
        `got NCHW [${logitsShape.join(', ')}]`,
    );
  const m = readMask(mask, shape, 'features', format);
  const sync = syncCall(engine, 'cflObjective');
  return inNchw(format, [logits, features], ([l, f]) =>
    engineOp('cflObjective', engine, [l, f], ([lv, fv], grad) => {
      const options = { ...rest, logits: lv, features: fv, mask: m, shape, grad };
      const r = call(() => call(() => sync(options), 'features', shape, format), 'logits', logitsShape, format);
      return { loss: r.loss, grads: r.grad && [r.grad.logits, r.grad.features] };
    }),
  ) as tf.Scalar;
}
