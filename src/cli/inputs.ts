// Loading the eval command's input files and checking their shapes against each other, so that a
// mismatch is reported with the file's flag, name and shape rather than as an element count. Every
// file is read by readNpy (npy.ts): regular files only, their size checked against their header.

import type { Shape4 } from '../types.js';
import { type NpyArray, npyToFloat32, npyToInt32, readNpy } from './npy.js';

const show = (shape: readonly number[]) => `(${shape.join(', ')})`;
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function wrongShape(array: NpyArray, what: string, expected: string): never {
  throw new Error(`${array.source}: ${what} must have shape ${expected}; got ${show(array.shape)}`);
}

/** A (B, C, H, W) float array (features or logits) and its shape. */
export async function loadNCHW(
  path: string,
  what: 'features' | 'logits',
): Promise<{ values: Float32Array; shape: Shape4 }> {
  const array = await readNpy(path, what);
  if (array.shape.length !== 4 || array.shape.some((d) => d === 0))
    wrongShape(array, what, '(B, C, H, W) with no zero dimension');
  return { values: npyToFloat32(array), shape: array.shape as unknown as Shape4 };
}

/** Logits of (B, classes, H, W) whose B, H, W match the features'. */
export async function loadLogitsFor(path: string, features: Shape4, classes: number): Promise<Float32Array> {
  const array = await readNpy(path, 'logits');
  const [b, , h, w] = features;
  if (!same(array.shape, [b, classes, h, w]))
    wrongShape(array, 'logits', `${show([b, classes, h, w])} to match the features`);
  return npyToFloat32(array);
}

/** A mask of (B, 1, H, W) or (B, H, W), as float32 (the API checks its values). */
export async function loadMask(path: string, shape: Shape4): Promise<Float32Array> {
  const array = await readNpy(path, 'mask');
  const [b, , h, w] = shape;
  if (!same(array.shape, [b, 1, h, w]) && !same(array.shape, [b, h, w]))
    wrongShape(array, 'mask', `${show([b, 1, h, w])} or ${show([b, h, w])}`);
  return npyToFloat32(array);
}

/** Class-index targets of (B, H, W) (or (B, 1, H, W)) as int32. */
export async function loadTarget(path: string, shape: Shape4): Promise<Int32Array> {
  const array = await readNpy(path, 'target');
  const [b, , h, w] = shape;
  if (!same(array.shape, [b, h, w]) && !same(array.shape, [b, 1, h, w]))
    wrongShape(array, 'target', `${show([b, h, w])} (class indices)`);
  return npyToInt32(array);
}

/** Target probabilities of the logits' shape (B, C, H, W). */
export async function loadTargetProbs(path: string, shape: Shape4): Promise<Float32Array> {
  const array = await readNpy(path, 'target-probs');
  if (!same(array.shape, shape)) wrongShape(array, 'target probabilities', `${show(shape)} like the logits`);
  return npyToFloat32(array);
}
