// What a loss wrapper runs on, whatever the backend: the executor of its per-image jobs (the
// calling thread, the worker pool or WebGPU), the calling thread's wasm instance (kernels and
// workspace: cross-entropy and the checks run there on every backend), and the backend's name,
// reported in every result.

import type { Executor } from './executor.js';
import type { Kernels } from './kernels.js';
import type { Workspace } from './workspace.js';
import type { BackendName } from '../types.js';

export interface LossContext {
  kernels: Kernels;
  workspace: Workspace;
  backend: BackendName;
  /** Runs the per-image jobs: in this thread, or on the worker pool. */
  executor: Executor;
  /** Largest wasm memory a call may need, in bytes. */
  maxMemoryBytes: number;
}

/**
 * What a call (crossEntropy) or one image (the contrastive losses) needs in the wasm arena: an
 * upper bound of the bytes it allocates. Every term is one buffer of the TypeScript wrapper or the
 * kernel; tests/limits.test.mjs checks the bound on real calls. (The arena, assembly/memory.ts,
 * has no per-buffer limit: one buffer may take all of wasm32's memory.)
 */
export type MemoryNeed = number;

/** Per-buffer headers and 16-byte rounding (≤ 20 bytes each, a few dozen buffers) and small objects. */
export const ARENA_SLACK = 4096;

/** A byte count for messages: exact below 1 KiB, else in KiB, MiB or GiB to three digits, with the bytes. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const [value, unit] = n < 2 ** 20 ? [n / 1024, 'KiB'] : n < 2 ** 30 ? [n / 2 ** 20, 'MiB'] : [n / 2 ** 30, 'GiB'];
  return `${Number(value.toPrecision(3))} ${unit} (${n} bytes)`;
}

/** Rejects a call whose estimated wasm memory exceeds the engine's limits, before any work. */
export function checkMemoryBudget(ctx: LossContext, bytes: MemoryNeed, what: string): void {
  if (bytes > ctx.maxMemoryBytes) {
    throw new RangeError(
      `${what} needs about ${formatBytes(bytes)} of wasm memory, over the limit of ` +
        `${formatBytes(ctx.maxMemoryBytes)} (maxMemoryBytes, at most 4 GiB for wasm32)`,
    );
  }
}
