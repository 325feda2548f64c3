// What a loss wrapper runs on: the kernels of one wasm instance, its workspace, and the name of
// the build, reported in every result.

import type { Executor } from '../runtime/executor';
import type { Kernels } from '../runtime/kernels';
import type { Workspace } from '../runtime/workspace';
import type { BackendName } from '../types';

export interface WasmContext {
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

const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;

/** Rejects a call whose estimated wasm memory exceeds the engine's limits, before any work. */
export function checkMemoryBudget(ctx: WasmContext, bytes: MemoryNeed, what: string): void {
  if (bytes > ctx.maxMemoryBytes) {
    throw new RangeError(
      `${what} needs about ${mib(bytes)} (${bytes} bytes) of wasm memory, over the limit of ` +
        `${mib(ctx.maxMemoryBytes)} (maxMemoryBytes, at most 4 GiB for wasm32)`,
    );
  }
}

export const roundUp8 = (n: number): number => (n + 7) & ~7;
