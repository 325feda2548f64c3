// The GPU-buffer inputs of a sync call on the device (docs/webgpu.md): `{ buffer, byteOffset? }`,
// a buffer of the engine's device holding float32 values in the layout a host array would have.

import type { FloatSource } from '../source.js';
import { checkFloat32, checkOptions, type FiniteCheck, type FloatTaker } from '../../validate.js';

const COPY_SRC = 4;

/** Whether `value` is a GPU-buffer input: an object (not a typed array) whose `buffer` is a GPUBuffer. */
export function isGpuData(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return false;
  const buffer = (value as { buffer?: unknown }).buffer;
  return (
    buffer !== null &&
    typeof buffer === 'object' &&
    typeof (buffer as GPUBuffer).usage === 'number' &&
    typeof (buffer as GPUBuffer).size === 'number'
  );
}

/** A checked `{ buffer, byteOffset? }` of `length` floats. */
function checkGpuData(value: unknown, field: string, length: number): FloatSource {
  checkOptions(value, field, ['buffer', 'byteOffset']);
  const { buffer, byteOffset = 0 } = value as { buffer: GPUBuffer; byteOffset?: number };
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0)
    throw new RangeError(`${field}.byteOffset must be a multiple of 4 bytes, ≥ 0; got ${String(byteOffset)}`);
  const bytes = byteOffset + length * 4;
  if (buffer.size < bytes)
    throw new RangeError(
      `${field}.buffer holds ${buffer.size} bytes; ${length} floats from byte ${byteOffset} need ${bytes}`,
    );
  if (!(buffer.usage & COPY_SRC))
    throw new TypeError(`${field}.buffer needs GPUBufferUsage.COPY_SRC: the engine copies from it`);
  if (buffer.mapState !== undefined && buffer.mapState !== 'unmapped')
    throw new TypeError(`${field}.buffer is mapped (${buffer.mapState}); unmap it before the call`);
  return { kind: 'device', buffer, byteOffset };
}

/**
 * How a call on the device takes its float inputs: features and logits as GPU buffers; target
 * probabilities as a GPU buffer too, or as a Float32Array (CPU data, checked now and uploaded).
 */
export function deviceFloats(finite: FiniteCheck): FloatTaker<FloatSource> {
  return (value, field, length) => {
    if (isGpuData(value)) return checkGpuData(value, field, length);
    if (field === 'targetProbs') {
      const values = checkFloat32(value, field, length);
      finite(values, field);
      return { kind: 'host', values };
    }
    throw new TypeError(
      `${field} must be { buffer: GPUBuffer, byteOffset?: number } of the engine's device: this call's inputs are on ` +
        `the GPU (docs/webgpu.md)`,
    );
  };
}
