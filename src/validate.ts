// Input validation shared by every loss. Errors name the field and say what was expected:
// TypeError for a wrong kind of value, RangeError for a value of the right kind but out of range.

import type { Mask, Shape4 } from './types.js';

export function checkShape(shape: unknown, field = 'shape'): Shape4 {
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new TypeError(`${field} must be [B, C, H, W], four positive integers; got ${JSON.stringify(shape)}`);
  }
  return shape as unknown as Shape4;
}

/** Takes a float input of `length` values: a Float32Array, or a GPU buffer (webgpu/resident/inputs.ts). */
export type FloatTaker<F> = (value: unknown, field: string, length: number) => F;

export function checkFloat32(value: unknown, field: string, length: number): Float32Array {
  if (!(value instanceof Float32Array)) throw new TypeError(`${field} must be a Float32Array`);
  if (value.length !== length) throw new RangeError(`${field} must have ${length} elements; got ${value.length}`);
  return value;
}

export function checkMask(value: unknown, field: string, length: number): Mask {
  if (!(value instanceof Float32Array) && !(value instanceof Uint8Array)) {
    throw new TypeError(`${field} must be a Float32Array (values in [0, 1]) or a Uint8Array (0 or 1)`);
  }
  if (value.length !== length)
    throw new RangeError(`${field} must have ${length} elements (B·H·W); got ${value.length}`);
  if (value instanceof Uint8Array) {
    const bad = value.findIndex((v) => v > 1);
    if (bad >= 0)
      throw new RangeError(
        `${field}[${bad}] = ${value[bad]}: a Uint8Array mask must hold 0 or 1 (divide a 0/255 mask by 255)`,
      );
  } else {
    const bad = value.findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) {
      const hint = value[bad] > 1 ? ' (divide a 0/255 mask by 255)' : '';
      throw new RangeError(`${field}[${bad}] = ${value[bad]}: mask values must lie in [0, 1]${hint}`);
    }
  }
  return value;
}

/** Throws for a non-finite value found at `index` (or -1) of `array` (offset into the caller's array). */
export function reportNonFinite(array: ArrayLike<number>, field: string, index: number, offset = 0): void {
  if (index < 0) return;
  throw new RangeError(`${field}[${index + offset}] = ${array[index + offset]}: values must be finite`);
}

/**
 * Checks that every value of an input is finite, before any work on it, and given `into` (arrays
 * that split `values` in order) copies the values there as it goes: the engines' check is a wasm
 * SIMD scan that passes each chunk on while it is in cache (Workspace.checkFinite), so a call's
 * copies of its inputs cost one read of them, not two; checkFiniteJs serves a call made before any
 * engine exists.
 */
export type FiniteCheck = (values: Float32Array, field: string, into?: Float32Array[]) => void;

export const checkFiniteJs: FiniteCheck = (values, field, into) => {
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) reportNonFinite(values, field, i);
  if (into) copyIntoPieces(values, 0, into);
};

/** Copies `part`, which starts at `offset` of an array that `pieces` split in order, into the pieces it covers. */
export function copyIntoPieces(part: Float32Array, offset: number, pieces: Float32Array[]): void {
  let start = 0;
  for (const piece of pieces) {
    const from = Math.max(start, offset),
      to = Math.min(start + piece.length, offset + part.length);
    if (from < to) piece.set(part.subarray(from - offset, to - offset), from - start);
    start += piece.length;
  }
}

export function optionalNumber(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value))
    throw new TypeError(`${field} must be a number; got ${String(value)}`);
  return value;
}

/**
 * Smallest temperature accepted. The kernels run in float32: logits and gradients grow like 1/t
 * (a zero vector's gradient like 1e12/t), so below this they could overflow to Infinity/NaN.
 */
export const MIN_TEMPERATURE = 1e-12;

/** Largest finite float32; a number beyond it becomes Infinity in the kernels. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export function checkTemperature(value: unknown, fallback = 0.1): number {
  const t = optionalNumber(value, 'temperature', fallback);
  if (!(t > 0) || !Number.isFinite(t)) throw new RangeError(`temperature must be a finite number > 0; got ${t}`);
  if (t < MIN_TEMPERATURE)
    throw new RangeError(
      `temperature must be a finite number > 0 and at least ${MIN_TEMPERATURE} (float32 logits and gradients ` +
        `overflow below it); got ${t}`,
    );
  return t;
}

export function checkChoice<T extends string>(value: unknown, field: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T))
    throw new RangeError(
      `${field} must be one of ${choices.map((c) => `'${c}'`).join(', ')}; got ${JSON.stringify(value)}`,
    );
  return value as T;
}

export function checkBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${field} must be a boolean; got ${String(value)}`);
  return value;
}

/**
 * An options object with only the `known` keys: an unknown key is a TypeError that names it and,
 * when one is close (a typo), the key probably meant. `what` names the object in messages.
 */
export function checkOptions(value: unknown, what: string, known: readonly string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new TypeError(`${what} expects one options object`);
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closestKey(key, known);
    throw new TypeError(
      `${what}: unknown option '${key}'${near ? `; did you mean '${near}'?` : ''} (options: ${known.join(', ')})`,
    );
  }
  return value as Record<string, unknown>;
}

/** The known key nearest to `key` by edit distance (letter case ignored), if it is a likely typo. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined,
    bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(1, Math.floor(Math.min(key.length, best?.length ?? 0) / 3)) ? best : undefined;
}

/** Levenshtein distance with adjacent transpositions counted as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The options every loss takes besides its own. */
export const CALL_OPTIONS = ['grad', 'gradInto', 'signal', 'onProgress'] as const;

/** A loss call's `signal` (an AbortSignal) and `onProgress` (a function), both optional. */
export function checkCallOptions(o: Record<string, unknown>): {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
} {
  const signal = o.signal;
  if (
    signal !== undefined &&
    (signal === null ||
      typeof signal !== 'object' ||
      typeof (signal as AbortSignal).aborted !== 'boolean' ||
      typeof (signal as AbortSignal).addEventListener !== 'function')
  )
    throw new TypeError(`signal must be an AbortSignal; got ${String(signal)}`);
  const onProgress = o.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new TypeError(`onProgress must be a function (done, total) => void; got ${String(onProgress)}`);
  return {
    signal: signal as AbortSignal | undefined,
    onProgress: onProgress as ((done: number, total: number) => void) | undefined,
  };
}

/**
 * `gradInto`: caller-owned Float32Arrays the gradient is written into, each of its input's length;
 * `fields` are the gradients the loss has (logits, features).
 */
export function checkGradInto(
  value: unknown,
  lengths: Partial<Record<'logits' | 'features', number>>,
): Partial<Record<'logits' | 'features', Float32Array>> {
  if (value === undefined) return {};
  const fields = Object.keys(lengths);
  const o = checkOptions(value, 'gradInto', fields);
  const out: Partial<Record<'logits' | 'features', Float32Array>> = {};
  for (const field of fields as ('logits' | 'features')[]) {
    if (o[field] === undefined) continue;
    out[field] = checkFloat32(o[field], `gradInto.${field}`, lengths[field]!);
  }
  return out;
}

/**
 * What every loss checks of its call options alike: `grad` (default true), `gradInto`'s array of
 * the input `field` (`length` floats), and `signal` and `onProgress`.
 */
export function checkGradOptions(o: Record<string, unknown>, field: 'logits' | 'features', length: number) {
  const grad = checkBoolean(o.grad, 'grad', true);
  const gradInto = checkGradInto(o.gradInto, { [field]: length })[field];
  checkCallOptions(o);
  return { grad, gradInto };
}

/**
 * The inputs both contrastive losses take alike: `shape`, `features` (finite-checked later, as
 * they are copied; `floats` takes them), `mask`, `temperature` and the gradient options.
 */
export function checkFeatureInputs<F = Float32Array>(
  o: Record<string, unknown>,
  floats: FloatTaker<F> = checkFloat32 as FloatTaker<F>,
) {
  const [b, c, h, w] = checkShape(o.shape);
  const hw = h * w,
    chw = c * hw;
  return {
    b,
    c,
    h,
    w,
    features: floats(o.features, 'features', b * chw),
    mask: checkMask(o.mask, 'mask', b * hw),
    temperature: checkTemperature(o.temperature),
    ...checkGradOptions(o, 'features', b * chw),
  };
}

/** Positive integer patch size dividing H and W. */
export function checkPatchSize(value: unknown, h: number, w: number): number {
  const p = optionalNumber(value, 'patchSize', 4);
  if (!Number.isInteger(p) || p < 1) throw new RangeError(`patchSize must be an integer ≥ 1; got ${p}`);
  if (h % p !== 0 || w % p !== 0) throw new RangeError(`patchSize ${p} must divide H (${h}) and W (${w})`);
  return p;
}

/** The float32 copy of image `b` of a mask, whatever its input type. */
export function maskImage(mask: Mask, b: number, hw: number): Float32Array {
  const part = mask.subarray(b * hw, (b + 1) * hw);
  return part instanceof Float32Array ? part : Float32Array.from(part);
}
