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
 * upper bound of the bytes it allocates, and its largest single buffer. Every term is one buffer of
 * the TypeScript wrapper or the kernel; tests/limits.test.mjs checks the bound on real calls.
 */
export interface MemoryNeed {
  bytes: number;
  largestBlock: number;
}

/** The kernels' arena (AssemblyScript's stub runtime) traps on one buffer above 1 GiB − 4 bytes. */
export const MAX_BLOCK_BYTES = 2 ** 30 - 4;

/** Per-buffer headers and 16-byte rounding (≤ 20 bytes each, a few dozen buffers) and small objects. */
export const ARENA_SLACK = 4096;

const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;

/** Rejects a call whose estimated wasm memory exceeds the engine's limits, before any work. */
export function checkMemoryBudget(ctx: WasmContext, need: MemoryNeed, what: string): void {
  if (need.bytes > ctx.maxMemoryBytes) {
    throw new RangeError(`${what} needs about ${mib(need.bytes)} (${need.bytes} bytes) of wasm memory, over the limit of ${mib(ctx.maxMemoryBytes)} (maxMemoryBytes, at most 4 GiB for wasm32)`);
  }
  if (need.largestBlock > MAX_BLOCK_BYTES) {
    throw new RangeError(`${what} needs a single wasm buffer of ${mib(need.largestBlock)} (${need.largestBlock} bytes), over the limit of 1 GiB (${MAX_BLOCK_BYTES} bytes) for one buffer (the kernels' wasm32 arena)`);
  }
}

export const roundUp8 = (n: number): number => (n + 7) & ~7;
