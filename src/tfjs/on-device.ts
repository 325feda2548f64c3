// The ops' data on TF.js's webgpu backend (docs/tfjs.md, "On the GPU"): an input tensor's buffer
// taken with dataToGPU() (a tensor TF.js keeps on the CPU is uploaded), and the engine's result
// buffers made tensors. Nothing is read back.

import * as tf from '@tensorflow/tfjs-core';
import { ENGINE_DEVICE } from '../engine-options.js';
import type { Engine, GpuData, GpuOutput } from '../types.js';

// GPUBufferUsage STORAGE | COPY_SRC | COPY_DST (the global does not exist outside WebGPU runtimes).
const USAGE = 128 | 4 | 8;

/** TF.js's GPUDevice while its backend is webgpu. */
export function tfDevice(): GPUDevice | undefined {
  return tf.getBackend() === 'webgpu' ? (tf.backend() as { device?: GPUDevice }).device : undefined;
}

/** TF.js's device when its backend is webgpu and `engine` runs on it (the ops then stay on the GPU). */
export function deviceOf(engine: Engine): GPUDevice | undefined {
  const device = (engine as { [ENGINE_DEVICE]?: GPUDevice })[ENGINE_DEVICE];
  return device && device === tfDevice() ? device : undefined;
}

/** An input on the device, and how to let it go once the engine's work is submitted. */
export interface TakenInput {
  data: GpuData;
  release(): void;
}

/**
 * A float32 tensor's values on `device`: a copy of its buffer (dataToGPU), or, for a tensor that
 * TF.js keeps on the CPU (its webgpu backend runs small ops there), its values uploaded.
 */
export function takeOnGpu(t: tf.Tensor, device: GPUDevice): TakenInput {
  let taken: { tensorRef: tf.Tensor; buffer?: GPUBuffer } | undefined;
  try {
    taken = t.dataToGPU();
  } catch {
    // "Data is not on GPU but on CPU": its values are here, no read-back needed.
  }
  if (taken?.buffer) {
    const { tensorRef, buffer } = taken;
    return { data: { buffer }, release: () => tensorRef.dispose() };
  }
  const values = t.dataSync() as Float32Array;
  const buffer = device.createBuffer({ size: values.byteLength, usage: USAGE, mappedAtCreation: true });
  new Float32Array(buffer.getMappedRange()).set(values);
  buffer.unmap();
  // Destroyed once the engine's work is submitted (WebGPU frees it when that work is done).
  return { data: { buffer }, release: () => buffer.destroy() };
}

/** A result of the engine's as a tensor: a number, host values, or a buffer of the engine's (copied by TF.js). */
export function tensorOf(value: number | Float32Array | GpuOutput, shape: number[]): tf.Tensor {
  if (typeof value === 'number') return tf.scalar(value);
  if (value instanceof Float32Array) return tf.tensor(value, shape, 'float32');
  return tf.tensor({ buffer: value.buffer as GPUBuffer }, shape, 'float32');
}
