// How an engine with backend 'auto' or 'webgpu' routes a call: 'webgpu' runs every call on the GPU;
// 'auto' applies the cost model of docs/backends.md ("How auto decides"), whose constants are COST.

import type { LossContext } from '../runtime/context.js';
import { WebGpuError } from './errors.js';

export const COST = {
  wasmMacsPerMsPerThread: 15e6,
  gpuMacsPerMs: 250e6,
  gpuBytesPerMs: 4e6,
  gpuCallMs: 2,
  gpuImageMs: 0.25,
  margin: 2,
} as const;

/** The work of one call: similarity multiply-adds, bytes moved to and from the GPU, images. */
export interface Work {
  macs: number;
  bytes: number;
  images: number;
}

export type LossName = 'crossEntropy' | 'patchContrast' | 'infoNCE' | 'cflObjective';

/** True when the cost model (docs/backends.md) sends `work` to the GPU. */
export function gpuPays(work: Work, threads: number, margin: number = COST.margin): boolean {
  if (!(work.macs > 0)) return false;
  const wasmMs = work.macs / (COST.wasmMacsPerMsPerThread * Math.max(1, threads));
  const gpuMs =
    COST.gpuCallMs + COST.gpuImageMs * work.images + work.bytes / COST.gpuBytesPerMs + work.macs / COST.gpuMacsPerMs;
  return margin * gpuMs < wasmMs;
}

/** Work of a patchContrast or cflObjective call (cflnet adds the column maxima pass). */
export function patchWork(
  p: { b: number; c: number; h: number; w: number; patchSize: number; grad: boolean },
  variant: 'exact' | 'cflnet',
): Work {
  const n = (p.h / p.patchSize) * (p.w / p.patchSize);
  const passes = (variant === 'cflnet' ? 3 : 2) + (p.grad ? 2 : 0);
  return { macs: p.b * passes * n * n * p.c, bytes: p.b * p.c * p.h * p.w * 4 * (p.grad ? 2 : 1), images: p.b };
}

/** Work of an infoNCE call from its dictionaries' |Q| and |K| (features of `featureBytes` in all). */
export function infoNCEWork(
  counts: readonly [number, number][],
  c: number,
  featureBytes: number,
  grad: boolean,
  meanExp: boolean,
): Work {
  let macs = 0,
    rows = 0;
  for (const [j, m] of counts) {
    if (j < 2 || m < 1) continue;
    macs += j * m * c * (grad ? 5 : 1) + (meanExp ? j * j * c * (grad ? 3 : 1) : 0);
    rows += j + m;
  }
  return { macs, bytes: featureBytes + (grad ? rows * c * 4 : 0), images: counts.length };
}

/** Routes calls of an engine between its wasm context and its WebGPU context. */
export class WebGpuRoute {
  /** Why the last 'auto' call that was meant for the GPU ran on wasm, if one did. */
  lastFallback: string | null = null;

  readonly #gpu: LossContext;
  readonly #threads: number;
  readonly #margin: number;

  constructor(
    readonly mode: 'webgpu' | 'auto',
    gpu: LossContext,
    threads: number,
    margin: number,
  ) {
    this.#gpu = gpu;
    this.#threads = threads;
    this.#margin = margin;
  }

  /** Runs `fn` on the context that the mode and the call's estimated `work` pick (null: wasm). */
  async run<T>(wasm: LossContext, work: Work | null, fn: (ctx: LossContext) => T | Promise<T>): Promise<T> {
    if (this.mode === 'webgpu') return fn(this.#gpu);
    if (!work || !gpuPays(work, this.#threads, this.#margin)) return fn(wasm);
    try {
      return await fn(this.#gpu);
    } catch (error) {
      if (!(error instanceof WebGpuError)) throw error;
      // Documented fallback: the call runs on wasm, and its result's backend says so.
      this.lastFallback = error.message;
      return fn(wasm);
    }
  }
}
