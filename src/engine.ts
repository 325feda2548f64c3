// The engine: one wasm instance with its own memory and workspace, the loss wrappers over it,
// and the public API (createEngine and the top-level functions over a lazily created default).

import { runCflObjective } from './losses/cflObjective';
import type { WasmContext } from './losses/context';
import { runCrossEntropy } from './losses/crossEntropy';
import { drawInfoNCESample, runInfoNCE } from './losses/infoNCE';
import { parsePatchContrast, runPatchContrast } from './losses/patchContrast';
import { type Executor, InlineExecutor } from './runtime/executor';
import { instantiateKernels } from './runtime/kernels';
import { WorkerPool } from './runtime/pool';
import { probeFeatures } from './runtime/probe';
import type { KernelSource } from './runtime/source';
import { Workspace } from './runtime/workspace';
import type {
  BackendName, CflObjectiveOptions, CflObjectiveResult, CrossEntropyOptions, CrossEntropyResult, Engine, EngineInfo,
  EngineOptions, InfoNCEOptions, InfoNCEResult, PatchContrastOptions, PatchContrastResult,
} from './types';
import { checkChoice } from './validate';

const WASM32_LIMIT = 4 * 2 ** 30;

class WasmEngine implements Engine {
  private disposed = false;

  constructor(readonly info: EngineInfo, private readonly ctx: WasmContext) {}

  private run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult> {
    return this.run(() => runCrossEntropy(this.ctx, options));
  }

  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult> {
    return this.run(() => runPatchContrast(this.ctx, parsePatchContrast(options)));
  }

  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult> {
    return this.run(() => runInfoNCE(this.ctx, options));
  }

  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult> {
    return this.run(() => runCflObjective(this.ctx, options));
  }

  memoryBytes(): number {
    return this.ctx.workspace.memoryBytes();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.ctx.executor.dispose();
  }

  /** Test hook: crashes one worker of the pool (no-op without workers). */
  [Symbol.for('forgery-losses.crashWorker')](): void {
    (this.ctx.executor as Partial<WorkerPool>).crashOneWorker?.();
  }
}

/** 'auto' threads: the core count, capped at 8 (per-image jobs rarely outnumber that). */
async function autoThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  let cores = nav?.hardwareConcurrency;
  if (!cores && probeFeatures().workers) cores = (await import('node:os').catch(() => undefined))?.availableParallelism?.();
  return Math.max(1, Math.min(8, cores ?? 1));
}

function parseEngineOptions(options: EngineOptions) {
  if (options === null || typeof options !== 'object') throw new TypeError('createEngine expects an options object');
  const backend = checkChoice(options.backend, 'backend', ['auto', 'wasm', 'webgpu'] as const, 'auto');
  const wasmBuild = checkChoice(options.wasmBuild, 'wasmBuild', ['auto', 'simd', 'relaxed-simd'] as const, 'auto');
  const threads = options.threads ?? 1;
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`threads must be an integer ≥ 1 or 'auto'; got ${String(threads)}`);
  const maxMemoryBytes = options.maxMemoryBytes ?? WASM32_LIMIT;
  if (!(maxMemoryBytes > 0)) throw new RangeError(`maxMemoryBytes must be a positive number; got ${maxMemoryBytes}`);
  return { backend, wasmBuild, threads, maxMemoryBytes: Math.min(maxMemoryBytes, WASM32_LIMIT) };
}

export async function createEngineFrom(source: KernelSource, workerUrl: URL | undefined, options: EngineOptions = {}): Promise<Engine> {
  const opts = parseEngineOptions(options);
  const features = probeFeatures();
  const notes: string[] = [];
  if (opts.backend === 'webgpu') {
    throw new Error(features.webgpu
      ? 'forgery-losses: the WebGPU backend is not available in this version; use backend: "wasm" or "auto"'
      : 'forgery-losses: backend "webgpu" needs navigator.gpu, which this runtime does not have');
  }
  if (!features.simd) throw new Error('forgery-losses: this runtime has no WebAssembly SIMD (needed by every kernel)');
  if (opts.wasmBuild === 'relaxed-simd' && !features.relaxedSimd) {
    throw new Error('forgery-losses: wasmBuild "relaxed-simd" was asked for, but this runtime does not validate relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)');
  }
  const relaxed = opts.wasmBuild === 'relaxed-simd' || (opts.wasmBuild === 'auto' && features.relaxedSimd);
  const module = await (relaxed ? source.relaxed() : source.simd());
  const kernels = await instantiateKernels(module);
  const workspace = new Workspace(kernels);
  const backend: BackendName = relaxed ? 'wasm-relaxed-simd' : 'wasm-simd';
  const threads = opts.threads === 'auto' ? await autoThreads() : opts.threads;
  let executor: Executor = new InlineExecutor(kernels, workspace);
  if (threads > 1) {
    if (!workerUrl || !features.workers) {
      notes.push(`threads: ${threads} asked, but this runtime offers no workers; jobs run in the calling thread`);
    } else {
      try {
        executor = await WorkerPool.create(module, workerUrl, threads);
      } catch (error) {
        notes.push(`threads: ${threads} asked, but workers could not start (${(error as Error).message}); jobs run in the calling thread`);
      }
    }
  }
  const info: EngineInfo = { backend, threads: executor.threads, features: { ...features }, notes };
  return new WasmEngine(info, { kernels, workspace, backend, executor, maxMemoryBytes: opts.maxMemoryBytes });
}

/** The public API over one kernel source (the entries differ only in how they load the wasm). */
export function makeApi(source: KernelSource, workerUrl?: URL) {
  let defaultEngine: Promise<Engine> | undefined;
  const engine = (): Promise<Engine> => (defaultEngine ??= createEngineFrom(source, workerUrl));
  return {
    /** Creates an engine with its own wasm instance and, for threads > 1, its own workers. */
    createEngine: (options?: EngineOptions): Promise<Engine> => createEngineFrom(source, workerUrl, options),
    /** Pixel cross-entropy (torch.nn.CrossEntropyLoss semantics) and its gradient. */
    crossEntropy: async (options: CrossEntropyOptions) => (await engine()).crossEntropy(options),
    /** CFL-Net patch contrastive loss, 'exact' or 'cflnet', and its gradient. */
    patchContrast: async (options: PatchContrastOptions) => (await engine()).patchContrast(options),
    /** FOCAL InfoNCE++ per image, averaged over the used images, and its gradient. */
    infoNCE: async (options: InfoNCEOptions) => (await engine()).infoNCE(options),
    /** CFL-Net training objective: weighted CE + alpha · patchContrast('cflnet'). */
    cflObjective: async (options: CflObjectiveOptions) => (await engine()).cflObjective(options),
    /** The pixels that infoNCE's seeded sampler draws (same on every runtime and thread count). */
    drawInfoNCESample,
  };
}
