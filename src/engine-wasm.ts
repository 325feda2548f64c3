// An engine's wasm side: the build it runs, the calling thread's instances, and the executor of
// its jobs (the calling thread, a worker pool, or a pool started when a call pays for it).

import type { EngineInternals, ParsedEngineOptions } from './engine-options.js';
import type { LossContext } from './runtime/context.js';
import { CopyCache } from './runtime/copies.js';
import { cannotBlock } from './runtime/executors/blocking.js';
import type { Executor } from './runtime/executors/executor.js';
import { InlineExecutor } from './runtime/executors/inline.js';
import { LazyPoolExecutor } from './runtime/executors/lazy-pool.js';
import type { Platform } from './runtime/executors/spawn.js';
import type { RuntimeFeatures } from './runtime/probe.js';
import { MAX_SLOT_FLOATS, PART_WORK } from './runtime/schedule/jobs.js';
import type { KernelSource } from './runtime/source.js';
import { WasmInstance } from './runtime/wasm/instance.js';
import type { BackendName } from './types.js';

/** How long a sync call waits for a worker whose task has stopped stepping before it replaces the worker. */
const STALL_MS = 10_000;

/** 'auto' threads: the core count, capped at 8 (the parts of a pass are at most 16, schedule/jobs.ts). */
async function autoThreads(platform: Platform): Promise<number> {
  return Math.max(1, Math.min(8, (await platform.cores()) ?? 1));
}

async function executorFor(
  module: WebAssembly.Module,
  platform: Platform,
  opts: ParsedEngineOptions,
  inline: InlineExecutor,
  threads: number,
  notes: string[],
  copies: CopyCache,
  stallMs: number,
  canSpawn: boolean,
): Promise<Executor> {
  if (threads === 1) return inline;
  if (opts.backend === 'webgpu') {
    notes.push(
      `threads: ${threads} asked, but backend "webgpu" runs every call on the GPU; threads apply to the wasm backend`,
    );
    return inline;
  }
  const spawn = platform.spawn;
  if (!spawn || !canSpawn) {
    notes.push(`threads: ${threads} asked, but this runtime offers no workers; jobs run in the calling thread`);
    return inline;
  }
  // The pool's code loads with the first pool: an app whose calls stay in the calling thread never loads it.
  const start = async () =>
    (await import('./runtime/executors/pool.js')).WorkerPool.create(module, spawn, threads, inline, copies, stallMs);
  if (opts.threads === 'auto') {
    // Workers start with the first call whose work pays for them, or now when asked to.
    const lazy = new LazyPoolExecutor(inline, start, threads, notes);
    if (opts.workers === 'eager') await lazy.startWorkers();
    return lazy;
  }
  try {
    return await start();
  } catch (error) {
    notes.push(
      `threads: ${threads} asked, but workers could not start (${(error as Error).message}); jobs run in the ` +
        `calling thread`,
    );
    return inline;
  }
}

export async function makeWasmContext(
  source: KernelSource,
  platform: Platform,
  opts: ParsedEngineOptions,
  features: RuntimeFeatures,
  notes: string[],
  internals: EngineInternals,
): Promise<LossContext> {
  if (!features.simd) throw new Error('forgery-losses: this runtime has no WebAssembly SIMD (needed by every kernel)');
  if (opts.wasmBuild === 'relaxed-simd' && !features.relaxedSimd) {
    throw new Error(
      'forgery-losses: wasmBuild "relaxed-simd" was asked for, but this runtime does not validate relaxed SIMD ' +
        '(Node 20 needs --experimental-wasm-relaxed-simd)',
    );
  }
  const relaxed = opts.wasmBuild === 'relaxed-simd' || (opts.wasmBuild === 'auto' && features.relaxedSimd);
  const module = await (relaxed ? source.relaxed() : source.simd());
  const [main, spare] = await Promise.all([WasmInstance.create(module), WasmInstance.create(module)]);
  const copies = internals.copies ?? new CopyCache();
  const inline = new InlineExecutor(main, spare, copies);
  const threads = opts.threads === 'auto' ? await autoThreads(platform) : opts.threads;
  const stallMs = internals.stallMs ?? STALL_MS;
  const executor = await executorFor(module, platform, opts, inline, threads, notes, copies, stallMs, features.workers);
  if (executor.threads > 1 && cannotBlock)
    notes.push(`sync calls run in the calling thread: ${cannotBlock}; the async ones use ${executor.threads} threads`);
  const backend: BackendName = relaxed ? 'wasm-relaxed-simd' : 'wasm-simd';
  const partWork = internals.partWork ?? PART_WORK;
  const maxSlotFloats = internals.maxSlotFloats ?? MAX_SLOT_FLOATS;
  const { maxMemoryBytes } = opts;
  const poolAtCall = internals.poolAtCall ?? true;
  return {
    backend,
    executor,
    inline,
    kernels: main.kernels,
    copies,
    maxMemoryBytes,
    partWork,
    maxSlotFloats,
    poolAtCall,
  };
}
