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
  BackendName,
  CflObjectiveOptions,
  CflObjectiveResult,
  CrossEntropyOptions,
  CrossEntropyResult,
  Engine,
  EngineInfo,
  EngineOptions,
  InfoNCEOptions,
  InfoNCEResult,
  PatchContrastOptions,
  PatchContrastResult,
} from './types';
import { checkChoice } from './validate';
import { GpuRuntime, requestAdapter } from './webgpu/device';
import { WebGpuExecutor } from './webgpu/executor';
import { COST, type LossName, WebGpuRoute } from './webgpu/select';

// wasm32 addresses 4 GiB; the kernels' arena cannot use the last 64 KiB page (its allocator's end
// offset would wrap), and the module's static data sits below the arena.
const WASM32_LIMIT = 4 * 2 ** 30 - 2 ** 17;

class WasmEngine implements Engine {
  private disposed = false;

  /** `gpu` routes calls to the WebGPU context (backend 'webgpu', or 'auto' with a usable adapter). */
  constructor(
    readonly info: EngineInfo,
    private readonly ctx: WasmContext,
    private readonly gpu?: { route: WebGpuRoute; runtime: GpuRuntime },
  ) {}

  private run<T>(loss: LossName, options: unknown, fn: (ctx: WasmContext) => T | Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    try {
      return Promise.resolve(this.gpu ? this.gpu.route.run(this.ctx, loss, options, fn) : fn(this.ctx));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult> {
    return this.run('crossEntropy', options, (ctx) => runCrossEntropy(ctx, options));
  }

  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult> {
    return this.run('patchContrast', options, (ctx) => runPatchContrast(ctx, parsePatchContrast(options)));
  }

  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult> {
    return this.run('infoNCE', options, (ctx) => runInfoNCE(ctx, options));
  }

  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult> {
    return this.run('cflObjective', options, (ctx) => runCflObjective(ctx, options));
  }

  memoryBytes(): number {
    return this.ctx.workspace.memoryBytes();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.ctx.executor.dispose();
    await this.gpu?.runtime.dispose();
  }

  /** Test hook: destroys the WebGPU device, as a GPU reset would (no-op without one). */
  [Symbol.for('forgery-losses.loseWebGpuDevice')](): void {
    this.gpu?.runtime.loseDevice();
  }

  /** Test hook: the WebGPU strip and slice budgets in bytes (tiny ones exercise the splitting). */
  [Symbol.for('forgery-losses.webGpuBudgets')](budgets: { strip?: number; slice?: number }): void {
    if (this.gpu) Object.assign(this.gpu.runtime.budgets, budgets);
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
  if (!cores && probeFeatures().workers)
    cores = (await import('node:os').catch(() => undefined))?.availableParallelism?.();
  return Math.max(1, Math.min(8, cores ?? 1));
}

function parseEngineOptions(options: EngineOptions) {
  if (options === null || typeof options !== 'object') throw new TypeError('createEngine expects an options object');
  const backend = checkChoice(options.backend, 'backend', ['auto', 'wasm', 'webgpu'] as const, 'auto');
  const wasmBuild = checkChoice(options.wasmBuild, 'wasmBuild', ['auto', 'simd', 'relaxed-simd'] as const, 'auto');
  const threads = options.threads ?? 1;
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1))
    throw new RangeError(`threads must be an integer ≥ 1 or 'auto'; got ${String(threads)}`);
  const maxMemoryBytes = options.maxMemoryBytes ?? WASM32_LIMIT;
  if (!(maxMemoryBytes > 0)) throw new RangeError(`maxMemoryBytes must be a positive number; got ${maxMemoryBytes}`);
  const auto = options.webgpuAuto ?? {};
  if (auto === null || typeof auto !== 'object')
    throw new TypeError('webgpuAuto must be an object { margin?, allowFallbackAdapter? }');
  const margin = auto.margin ?? COST.margin;
  if (typeof margin !== 'number' || !(margin >= 0) || !Number.isFinite(margin))
    throw new RangeError(`webgpuAuto.margin must be a finite number ≥ 0; got ${String(margin)}`);
  const allowFallbackAdapter = auto.allowFallbackAdapter ?? false;
  if (typeof allowFallbackAdapter !== 'boolean')
    throw new TypeError(`webgpuAuto.allowFallbackAdapter must be a boolean; got ${String(allowFallbackAdapter)}`);
  return {
    backend,
    wasmBuild,
    threads,
    maxMemoryBytes: Math.min(maxMemoryBytes, WASM32_LIMIT),
    margin,
    allowFallbackAdapter,
  };
}

/**
 * The WebGPU side of an engine: for 'webgpu' an adapter and a device now (or a rejection saying
 * why not); for 'auto' an adapter probe, the device being requested by the first call that the
 * cost model sends to the GPU. Returns the runtime (if any) and what to report.
 */
async function startWebGpu(
  opts: ReturnType<typeof parseEngineOptions>,
  hasGpu: boolean,
  notes: string[],
): Promise<{ runtime?: GpuRuntime; report: EngineInfo['webgpu'] }> {
  if (opts.backend === 'webgpu') {
    const runtime = await GpuRuntime.create();
    return { runtime, report: { ...runtime.report } };
  }
  if (opts.backend !== 'auto' || !hasGpu) return { report: null };
  const got = await requestAdapter();
  if ('reason' in got) {
    notes.push(`auto: ${got.reason}; every call runs on wasm`);
    return { report: null };
  }
  if (got.report.isFallbackAdapter && !opts.allowFallbackAdapter) {
    notes.push(
      `auto: the WebGPU adapter (${got.report.description || got.report.architecture || got.report.vendor}) is a ` +
        `fallback/software adapter, slower than wasm; every call runs on wasm`,
    );
    return { report: { ...got.report } };
  }
  notes.push(
    `auto: a patchContrast, infoNCE or cflObjective call runs on WebGPU when ${opts.margin} × its estimated GPU ` +
      `time (transfers included) is below its estimated wasm time; crossEntropy always runs on wasm`,
  );
  return { runtime: GpuRuntime.fromAdapter(got.adapter, got.report), report: { ...got.report } };
}

export async function createEngineFrom(
  source: KernelSource,
  workerUrl: URL | undefined,
  options: EngineOptions = {},
): Promise<Engine> {
  const opts = parseEngineOptions(options);
  const features = probeFeatures();
  const notes: string[] = [];
  const webgpu = await startWebGpu(opts, features.webgpu, notes);
  try {
    return await createWithWebGpu(source, workerUrl, opts, features, notes, webgpu);
  } catch (error) {
    await webgpu.runtime?.dispose();
    throw error;
  }
}

async function createWithWebGpu(
  source: KernelSource,
  workerUrl: URL | undefined,
  opts: ReturnType<typeof parseEngineOptions>,
  features: ReturnType<typeof probeFeatures>,
  notes: string[],
  webgpu: Awaited<ReturnType<typeof startWebGpu>>,
): Promise<Engine> {
  if (!features.simd) throw new Error('forgery-losses: this runtime has no WebAssembly SIMD (needed by every kernel)');
  if (opts.wasmBuild === 'relaxed-simd' && !features.relaxedSimd) {
    throw new Error(
      'forgery-losses: wasmBuild "relaxed-simd" was asked for, but this runtime does not validate relaxed SIMD ' +
        '(Node 20 needs --experimental-wasm-relaxed-simd)',
    );
  }
  const relaxed = opts.wasmBuild === 'relaxed-simd' || (opts.wasmBuild === 'auto' && features.relaxedSimd);
  const module = await (relaxed ? source.relaxed() : source.simd());
  const kernels = await instantiateKernels(module);
  const workspace = new Workspace(kernels);
  const backend: BackendName = relaxed ? 'wasm-relaxed-simd' : 'wasm-simd';
  const threads = opts.threads === 'auto' ? await autoThreads() : opts.threads;
  let executor: Executor = new InlineExecutor(kernels, workspace);
  if (threads > 1 && opts.backend === 'webgpu') {
    notes.push(
      `threads: ${threads} asked, but backend "webgpu" runs every call on the GPU; threads apply to the wasm backend`,
    );
  } else if (threads > 1) {
    if (!workerUrl || !features.workers) {
      notes.push(`threads: ${threads} asked, but this runtime offers no workers; jobs run in the calling thread`);
    } else {
      try {
        executor = await WorkerPool.create(module, workerUrl, threads);
      } catch (error) {
        notes.push(
          `threads: ${threads} asked, but workers could not start (${(error as Error).message}); jobs run in the ` +
            `calling thread`,
        );
      }
    }
  }
  const ctx: WasmContext = { kernels, workspace, backend, executor, maxMemoryBytes: opts.maxMemoryBytes };
  const { runtime, report } = webgpu;
  if (!runtime)
    return new WasmEngine(
      { backend, threads: executor.threads, features: { ...features }, notes, webgpu: report },
      ctx,
    );
  // The WebGPU context: the same wrappers, its executor in place of the wasm one; no wasm memory limit applies.
  const gpuCtx: WasmContext = {
    kernels,
    workspace,
    backend: 'webgpu',
    executor: new WebGpuExecutor(runtime),
    maxMemoryBytes: Number.POSITIVE_INFINITY,
  };
  const mode = opts.backend === 'webgpu' ? 'webgpu' : 'auto';
  const info: EngineInfo = {
    backend: mode === 'webgpu' ? 'webgpu' : backend,
    threads: executor.threads,
    features: { ...features },
    notes,
    webgpu: report,
  };
  return new WasmEngine(info, ctx, { route: new WebGpuRoute(mode, gpuCtx, executor.threads, opts.margin), runtime });
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
