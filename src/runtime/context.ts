// What a loss wrapper runs on, whatever the backend: the executor of its per-image jobs (the
// calling thread, the worker pool or WebGPU), the calling thread's executor (cross-entropy and the
// target checks run there on every backend), the engine's copies, and the backend's name,
// reported in every result.

import { formatBytes } from '../format.js';
import type { BackendName } from '../types.js';
import type { CopyCache } from './copies.js';
import type { Executor } from './executors/executor.js';
import type { InlineExecutor } from './executors/inline.js';
import type { Kernels } from './wasm/kernels.js';

export interface LossContext {
  backend: BackendName;
  /** Runs the per-image jobs: in this thread, on the worker pool, or on the GPU. */
  executor: Executor;
  /** The calling thread's instance. */
  inline: InlineExecutor;
  /** Its kernels (the memory estimates read the kernels' own formulas). */
  kernels: Kernels;
  copies: CopyCache;
  /** Largest wasm memory a call may need, in bytes. */
  maxMemoryBytes: number;
  /** Work per part of a similarity pass (schedule/jobs.ts PART_WORK; the test entry makes parts small). */
  partWork: number;
  /** Floats of dZ slots an image in bands may hold (schedule/jobs.ts MAX_SLOT_FLOATS). */
  maxSlotFloats: number;
  /** Whether patchContrast pools at call time (runtime/wasm/pool-at-call.ts; the test entry can turn it off). */
  poolAtCall: boolean;
}

/**
 * What a call (crossEntropy) or one image (the contrastive losses) needs in the wasm arena: an
 * upper bound of the bytes it allocates. Every term is one buffer of the TypeScript wrapper or the
 * kernel; tests/limits.test.mjs checks the bound on real calls. (The arena, assembly/memory.ts,
 * has no per-buffer limit: one buffer may take all of wasm32's memory.)
 */
export type MemoryNeed = number;

/** Per-buffer 16-byte rounding (a few dozen buffers) and small objects. */
export const ARENA_SLACK = 4096;

/** Rejects a call whose estimated wasm memory exceeds the engine's limits, before any work. */
export function checkMemoryBudget(ctx: LossContext, bytes: MemoryNeed, what: string): void {
  if (bytes > ctx.maxMemoryBytes) {
    throw new RangeError(
      `${what} needs about ${formatBytes(bytes)} of wasm memory, over the limit of ` +
        `${formatBytes(ctx.maxMemoryBytes)} (maxMemoryBytes, at most 4 GiB for wasm32)`,
    );
  }
}
