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

/** Rejects a call whose estimated wasm memory exceeds the engine's limit, before any work. */
export function checkMemoryBudget(ctx: WasmContext, bytes: number, what: string): void {
  if (bytes > ctx.maxMemoryBytes) {
    const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
    throw new RangeError(`${what} needs about ${mib(bytes)} of wasm memory, over the limit of ${mib(ctx.maxMemoryBytes)} (maxMemoryBytes, at most 4 GiB for wasm32)`);
  }
}

export const roundUp8 = (n: number): number => (n + 7) & ~7;
