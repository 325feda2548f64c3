// What a loss wrapper needs from the engine when a call is made (before any context is picked):
// the finite check, the engine's copies, whether a call's copies go to shared memory, and
// patchContrast's pooling at call time.

import type { CopyCache } from '../runtime/copies.js';
import type { Kernels } from '../runtime/wasm/kernels.js';
import type { PoolGeometry } from '../runtime/wasm/pool-at-call.js';
import type { FiniteCheck } from '../validate.js';

/** patchContrast's pooling at call time, on the calling thread's instance (runtime/wasm/pool-at-call.ts). */
export interface PoolAtCall {
  /** The kernels and the engine's memory limit: an image whose job would not fit is not pooled (it is refused). */
  kernels: Kernels;
  maxMemoryBytes: number;
  /**
   * Pools the image at `first` of the caller's features into `zOut`, checking them as it goes, and
   * returns its row norms; null where it cannot.
   */
  image(features: Float32Array, first: number, g: PoolGeometry, zOut: Float32Array): Float64Array | null;
}

export interface PrepareEnv {
  /** Checks float inputs that the kernels do not check as they go (all but crossEntropy's logits). */
  finite: FiniteCheck;
  copies: CopyCache;
  /** Whether a call of `images` images takes its images' copies in shared memory. */
  share(images: number): boolean;
  /** Engines that run patchContrast in wasm only (not one that may route it to WebGPU). */
  pool?: PoolAtCall;
}
