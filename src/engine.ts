// The engine: one wasm instance with its own memory and workspace, the loss wrappers over it,
// and the public API (createEngine and the top-level functions over a lazily created default).

import { type PreparedCall, prepareCall } from './calls.js';
import { drawInfoNCESample } from './losses/infoNCE.js';
import type { LossContext } from './runtime/context.js';
import { abortReason } from './runtime/control.js';
import { type Executor, InlineExecutor } from './runtime/executor.js';
import type { AddF32 } from './runtime/image.js';
import { instantiateKernels } from './runtime/kernels.js';
import { LazyPoolExecutor } from './runtime/lazy-pool.js';
import { WorkerPool } from './runtime/pool.js';
import { probeFeatures } from './runtime/probe.js';
import { canShare, releaseCopies } from './runtime/recycle.js';
import type { KernelSource } from './runtime/source.js';
import type { Platform } from './runtime/spawn.js';
import { Workspace } from './runtime/workspace.js';
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
  PackageApi,
  PatchContrastResult,
} from './types.js';
import { checkChoice, checkFiniteJs, checkOptions, type FiniteCheck } from './validate.js';
import type { GpuRuntime } from './webgpu/device.js';
import { COST, type LossName, type WebGpuRoute } from './webgpu/select.js';

// The WebGPU backend (device, executor, shaders) is loaded only by an engine that may use a GPU;
// backend 'auto' first probes the adapter with the small adapter module.
const loadWebGpu = () => import('./webgpu/backend.js');
const loadAdapterProbe = () => import('./webgpu/adapter.js');
type WebGpuBackend = Awaited<ReturnType<typeof loadWebGpu>>;

// wasm32 addresses 4 GiB; the kernels' arena cannot use the last 64 KiB page (its allocator's end
// offset would wrap), and the module's static data sits below the arena.
const WASM32_LIMIT = 4 * 2 ** 30 - 2 ** 17;

/** Most threads an engine takes: each worker holds a wasm instance and its memory. */
const MAX_THREADS = 256;

/** What LossEngine implements: Engine with one wide signature per loss (Engine's overloads narrow the results). */
interface EngineImpl extends Omit<Engine, LossName> {
  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult>;
  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult>;
  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult>;
  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult>;
}

// Symbol.asyncDispose where the runtime has it, else the key TypeScript's `await using` looks for.
const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('Symbol.asyncDispose') as typeof Symbol.asyncDispose);

/** The engine: one wasm instance (and its workers), and the WebGPU route when there is one. */
class LossEngine implements EngineImpl {
  private disposed = false;

  /** `gpu` routes calls to the WebGPU context (backend 'webgpu', or 'auto' with a usable adapter). */
  constructor(
    readonly info: EngineInfo,
    private readonly ctx: LossContext,
    private readonly gpu?: { route: WebGpuRoute; runtime: GpuRuntime },
  ) {}

  /** Runs a call whose inputs are already taken. */
  runCall<T>(call: PreparedCall): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    // An aborted signal stops the call before any work (its options were still checked).
    if (call.signal?.aborted) return Promise.reject(abortReason(call.signal));
    try {
      const run = (ctx: LossContext) => call.run(ctx) as Promise<T>;
      return this.gpu ? this.gpu.route.run(this.ctx, call.work, run) : run(this.ctx);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The wasm SIMD finite check of the calling thread's instance. */
  readonly checkFinite: FiniteCheck = (values, field, into) => this.ctx.workspace.checkFinite(values, field, into);

  /** Worker threads that may split a call's images (runtime/bands.ts): they need shared memory. */
  get splitThreads(): number {
    return canShare && !this.gpu ? this.ctx.executor.threads : 1;
  }

  /** A call, its inputs taken now. */
  prepare(loss: LossName, options: unknown): PreparedCall {
    return prepareCall(loss, options, this.checkFinite, this.splitThreads);
  }

  private call<T>(loss: LossName, options: unknown): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('forgery-losses: this engine has been disposed'));
    try {
      return this.runCall(this.prepare(loss, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult> {
    return this.call('crossEntropy', options);
  }

  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult> {
    return this.call('patchContrast', options);
  }

  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult> {
    return this.call('infoNCE', options);
  }

  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult> {
    return this.call('cflObjective', options);
  }

  /** Wasm memory held: this instance's and, as they last reported it, its workers'. */
  memoryBytes(): number {
    const pool = this.ctx.executor as Partial<WorkerPool>;
    return this.ctx.workspace.memoryBytes() + (pool.memoryBytes?.() ?? 0);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    releaseCopies();
    await this.ctx.executor.dispose();
    await this.gpu?.runtime.dispose();
  }

  [asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** 'auto' threads: the core count, capped at 8 (the parts of a pass are at most 16, jobs.ts). */
async function autoThreads(platform: Platform): Promise<number> {
  return Math.max(1, Math.min(8, (await platform.cores()) ?? 1));
}

function parseEngineOptions(options: EngineOptions) {
  checkOptions(options, 'createEngine', ['threads', 'backend', 'wasmBuild', 'maxMemoryBytes', 'webgpuAuto']);
  const backend = checkChoice(options.backend, 'backend', ['auto', 'wasm', 'webgpu'] as const, 'auto');
  const wasmBuild = checkChoice(options.wasmBuild, 'wasmBuild', ['auto', 'simd', 'relaxed-simd'] as const, 'auto');
  const threads = options.threads ?? 1;
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS))
    throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}] or 'auto'; got ${String(threads)}`);
  const maxMemoryBytes = options.maxMemoryBytes ?? WASM32_LIMIT;
  if (typeof maxMemoryBytes !== 'number')
    throw new TypeError(`maxMemoryBytes must be a number of bytes; got ${JSON.stringify(maxMemoryBytes)}`);
  if (!(maxMemoryBytes > 0)) throw new RangeError(`maxMemoryBytes must be a positive number; got ${maxMemoryBytes}`);
  const auto = options.webgpuAuto ?? {};
  checkOptions(auto, 'webgpuAuto', ['margin', 'allowFallbackAdapter']);
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
): Promise<{ runtime?: GpuRuntime; report: EngineInfo['webgpu']; lib?: WebGpuBackend }> {
  if (opts.backend === 'webgpu') {
    const lib = await loadWebGpu();
    const runtime = await lib.GpuRuntime.create();
    return { runtime, report: { ...runtime.report }, lib };
  }
  if (opts.backend !== 'auto' || !hasGpu) return { report: null };
  const got = await (await loadAdapterProbe()).requestAdapter();
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
  const lib = await loadWebGpu();
  return { runtime: lib.GpuRuntime.fromAdapter(got.adapter, got.report), report: { ...got.report }, lib };
}

export async function createEngineFrom(
  source: KernelSource,
  platform: Platform,
  options: EngineOptions = {},
): Promise<Engine> {
  const opts = parseEngineOptions(options);
  const features = probeFeatures();
  const notes: string[] = [];
  const webgpu = await startWebGpu(opts, features.webgpu, notes);
  try {
    // Engine's overloads describe what the implementation returns (e.g. `grad` unless `grad: false`).
    return (await createWithWebGpu(source, platform, opts, features, notes, webgpu)) as Engine;
  } catch (error) {
    await webgpu.runtime?.dispose();
    throw error;
  }
}

async function createWithWebGpu(
  source: KernelSource,
  platform: Platform,
  opts: ReturnType<typeof parseEngineOptions>,
  features: ReturnType<typeof probeFeatures>,
  notes: string[],
  webgpu: Awaited<ReturnType<typeof startWebGpu>>,
): Promise<EngineImpl> {
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
  const threads = opts.threads === 'auto' ? await autoThreads(platform) : opts.threads;
  const inline = new InlineExecutor(kernels, workspace);
  // The parts' merges run in this thread, on its instance's SIMD (runtime/image.ts).
  const add: AddF32 = (acc, part, offset) => workspace.addF32(acc, part, offset);
  let executor: Executor = inline;
  if (threads > 1 && opts.backend === 'webgpu') {
    notes.push(
      `threads: ${threads} asked, but backend "webgpu" runs every call on the GPU; threads apply to the wasm backend`,
    );
  } else if (threads > 1) {
    const spawn = platform.spawn;
    if (!spawn || !features.workers) {
      notes.push(`threads: ${threads} asked, but this runtime offers no workers; jobs run in the calling thread`);
    } else if (opts.threads === 'auto') {
      // Workers start with the first call whose work pays for them (runtime/lazy-pool.ts).
      executor = new LazyPoolExecutor(inline, () => WorkerPool.create(module, spawn, threads, add), threads, notes);
    } else {
      try {
        executor = await WorkerPool.create(module, spawn, threads, add);
      } catch (error) {
        notes.push(
          `threads: ${threads} asked, but workers could not start (${(error as Error).message}); jobs run in the ` +
            `calling thread`,
        );
      }
    }
  }
  const ctx: LossContext = { kernels, workspace, backend, executor, maxMemoryBytes: opts.maxMemoryBytes };
  const { runtime, report, lib } = webgpu;
  if (!runtime || !lib)
    return new LossEngine(
      { backend, threads: executor.threads, features: { ...features }, notes, webgpu: report },
      ctx,
    );
  // The WebGPU context: the same wrappers, its executor in place of the wasm one; no wasm memory limit applies.
  const gpuCtx: LossContext = {
    kernels,
    workspace,
    backend: 'webgpu',
    executor: new lib.WebGpuExecutor(runtime),
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
  const route = new lib.WebGpuRoute(mode, gpuCtx, executor.threads, opts.margin);
  return new LossEngine(info, ctx, { route, runtime });
}

/** The public API over one kernel source and platform (the entries differ only in these). */
export function makeApi(source: KernelSource, platform: Platform): PackageApi & DefaultEngineProbe {
  let defaultEngine: Promise<LossEngine> | undefined;
  let ready: LossEngine | undefined;
  // threads 'auto': workers start only for a call that pays for them (runtime/lazy-pool.ts).
  const engine = (): Promise<LossEngine> =>
    (defaultEngine ??= createEngineFrom(source, platform, { threads: 'auto' }).then((e) => (ready = e as LossEngine)));
  /**
   * A loss on the default engine. The call's inputs are taken now, as on an engine, even while the
   * default engine is still being created (then with copies and the JavaScript finite check).
   */
  const topLevel = (loss: LossName) => (options: unknown) => {
    let call: PreparedCall;
    try {
      call = ready ? ready.prepare(loss, options) : prepareCall(loss, options, checkFiniteJs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (ready) return ready.runCall(call);
    const owned = call.own();
    return engine().then((e) => e.runCall(owned));
  };
  // The overloads of PackageApi are Engine's.
  return {
    createEngine: (options?: EngineOptions): Promise<Engine> => createEngineFrom(source, platform, options),
    crossEntropy: topLevel('crossEntropy') as PackageApi['crossEntropy'],
    patchContrast: topLevel('patchContrast') as PackageApi['patchContrast'],
    infoNCE: topLevel('infoNCE') as PackageApi['infoNCE'],
    cflObjective: topLevel('cflObjective') as PackageApi['cflObjective'],
    drawInfoNCESample: drawInfoNCESample as PackageApi['drawInfoNCESample'],
    defaultEngine: () => defaultEngine as Promise<Engine> | undefined,
  };
}

/** For tests only (src/testing.ts; the entries export the PackageApi fields alone). */
export interface DefaultEngineProbe {
  /** The top-level functions' engine, once a call has made it. */
  defaultEngine(): Promise<Engine> | undefined;
}
