// The TF.js ops' inputs: checked (rank, dtype, layout, with errors that say what to change) and
// read once, synchronously — the tensor's own buffer on the cpu backend, one dataSync() elsewhere.

import * as tf from '@tensorflow/tfjs-core';
import type { GpuData, GpuDeviceLike, Mask, Shape4 } from '../types.js';
import { checkChoice } from '../validate.js';
import { takeOnGpu } from './on-device.js';

/** tfjs-layers' names for NCHW ('channelsFirst', the default) and NHWC ('channelsLast'). */
export type DataFormat = 'channelsFirst' | 'channelsLast';

/**
 * A mask: (B, H, W), or (B, 1, H, W) / (B, H, W, 1) after the data format (float32 in [0, 1], int32
 * 0/1 or bool), or the flat typed array.
 */
export type MaskInput = tf.Tensor | Mask;

/**
 * Class indices as an int32 or bool tensor shaped like a mask, or a typed array; or `{ probs }`:
 * float32 probabilities shaped like the logits.
 */
export type CrossEntropyTarget =
  | tf.Tensor
  | Int32Array
  | Uint8Array
  | Uint16Array
  | { probs: tf.Tensor | Float32Array };

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

export function dataFormatOf(value: unknown): DataFormat {
  return checkChoice(value, 'dataFormat', ['channelsFirst', 'channelsLast'] as const, 'channelsFirst');
}

/** The NCHW shape of a rank-4 float32 tensor laid out as `format` says. */
export function checkInput(t: unknown, field: string, format: DataFormat): Shape4 {
  const layout = format === 'channelsLast' ? '[B, H, W, C]' : '[B, C, H, W]';
  if (!(t instanceof tf.Tensor)) throw new TypeError(`${field} must be a tf.Tensor of shape ${layout} (${format})`);
  if (t.isDisposed) throw new TypeError(`${field} has been disposed`);
  if (t.rank !== 4)
    throw new RangeError(`${field} must be a rank-4 tensor ${layout} (${format}); got shape ${shapeText(t.shape)}`);
  if (t.dtype !== 'float32')
    throw new TypeError(`${field} must be float32; got ${t.dtype} (use tf.cast(${field}, 'float32'))`);
  const [b, d1, d2, d3] = t.shape;
  return format === 'channelsLast' ? [b, d3, d1, d2] : [b, d1, d2, d3];
}

/** A float32 tensor's values: its own buffer where the backend keeps one (cpu), else one read. */
export function valuesOf(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/**
 * Checks that a label tensor (mask or class indices) is (B, H, W), or (B, 1, H, W) / (B, H, W, 1)
 * in `format`, for an input of NCHW shape `nchw`; an input that matches only the other layout
 * gets an error that names `dataFormat`.
 */
function checkLabelShape(label: tf.Tensor, field: string, nchw: Shape4, inputField: string, format: DataFormat) {
  const [b, , h, w] = nchw;
  const s = label.shape;
  const last = format === 'channelsLast';
  const hw =
    s.length === 3
      ? [s[1], s[2]]
      : s.length === 4 && (last ? s[3] : s[1]) === 1
        ? last
          ? [s[1], s[2]]
          : [s[2], s[3]]
        : null;
  const one = last ? '[B, H, W, 1]' : '[B, 1, H, W]';
  if (hw === null) throw new RangeError(`${field} must have shape [B, H, W] or ${one}; got ${shapeText(s)}`);
  if (s[0] === b && hw[0] === h && hw[1] === w) return;
  const [, c] = nchw;
  const other = last ? [w, c] : [c, h];
  if (s[0] === b && hw[0] === other[0] && hw[1] === other[1]) {
    throw new RangeError(
      `${inputField} looks ${last ? 'NCHW' : 'NHWC'} (its NCHW reading ${shapeText(nchw)} does not fit ${field} ` +
        `${shapeText(s)}): pass { dataFormat: '${last ? 'channelsFirst' : 'channelsLast'}' }`,
    );
  }
  throw new RangeError(
    `${field} shape ${shapeText(s)} does not match ${inputField} (B, H, W) = ${shapeText([b, h, w])}`,
  );
}

/** The mask as a tensor to read, checked, or already the typed array the engine takes. */
export function checkMask(mask: MaskInput, nchw: Shape4, inputField: string, format: DataFormat): tf.Tensor | Mask {
  if (mask instanceof Float32Array || mask instanceof Uint8Array) return mask;
  if (!(mask instanceof tf.Tensor))
    throw new TypeError('mask must be a tf.Tensor ([B, H, W] or with a channel of 1), a Float32Array or a Uint8Array');
  checkLabelShape(mask, 'mask', nchw, inputField, format);
  return mask;
}

/** A mask tensor's values as the engine takes them (float32 or uint8, B·H·W values). */
export function maskValues(data: tf.DataTypeMap[tf.NumericDataType]): Mask {
  if (data instanceof Float32Array || data instanceof Uint8Array) return data;
  // int32: 0/1 values as uint8; anything else goes through as float so that the engine names it.
  return data.every((v) => v === 0 || v === 1) ? Uint8Array.from(data) : Float32Array.from(data);
}

/** A mask tensor or typed array as the engine takes it, read now. */
export function readMask(mask: MaskInput, nchw: Shape4, inputField: string, format: DataFormat): Mask {
  const checked = checkMask(mask, nchw, inputField, format);
  return checked instanceof tf.Tensor ? maskValues(checked.dataSync() as Float32Array | Int32Array) : checked;
}

/** Cross-entropy's target as the engine takes it, and what to let go after the call. */
export interface TakenTarget {
  values: { target?: Int32Array | Uint8Array | Uint16Array; targetProbs?: Float32Array | GpuData };
  release(): void;
}

const kept = (values: TakenTarget['values']): TakenTarget => ({ values, release: () => {} });

/**
 * Cross-entropy's target as the engine takes it; `{ probs }` in the logits' layout, read, or on
 * `device` (TF.js's webgpu backend) taken on the GPU.
 */
export function readTarget(
  target: CrossEntropyTarget,
  nchw: Shape4,
  format: DataFormat,
  device?: GpuDeviceLike,
): TakenTarget {
  if (target instanceof Int32Array || target instanceof Uint8Array || target instanceof Uint16Array)
    return kept({ target });
  if (target instanceof tf.Tensor) {
    if (target.dtype !== 'int32' && target.dtype !== 'bool')
      throw new TypeError(
        `target must hold class indices as int32 or bool; got ${target.dtype} (use tf.cast(target, 'int32'), or ` +
          `pass { probs } for probabilities)`,
      );
    checkLabelShape(target, 'target', nchw, 'logits', format);
    return kept({ target: target.dataSync() as Int32Array | Uint8Array });
  }
  if (target !== null && typeof target === 'object' && 'probs' in target) {
    const probs = target.probs;
    if (probs instanceof Float32Array) return kept({ targetProbs: probs });
    const shape = checkInput(probs, 'target.probs', format);
    if (shape.some((d, i) => d !== nchw[i]))
      throw new RangeError(`target.probs shape ${shapeText(probs.shape)} must equal the logits shape`);
    const nchwProbs = format === 'channelsFirst' ? probs : tf.transpose(probs, [0, 3, 1, 2]);
    try {
      if (!device) return kept({ targetProbs: valuesOf(nchwProbs) });
      const taken = takeOnGpu(nchwProbs, device as GPUDevice);
      return { values: { targetProbs: taken.data }, release: taken.release };
    } finally {
      if (nchwProbs !== probs) nchwProbs.dispose();
    }
  }
  throw new TypeError('target must be class indices (an int32/bool tensor or typed array) or { probs }');
}
