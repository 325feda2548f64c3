// The engine: one wasm instance (and a spare for sync calls), its executor, the loss wrappers
// over them, and the public API (createEngine and the top-level functions over a lazily created
// default engine).

import { type PreparedCall, prepareCall } from './calls.js';
import type { PoolAtCall, PrepareEnv } from './losses/env.js';
import { drawInfoNCESample } from './losses/infoNCE.js';
import type { LossContext } from './runtime/context.js';
import { abortReason } from './runtime/control.js';
import type { Executor } from './runtime/executors/executor.js';
import { CopyCache, canShare } from './runtime/copies.js';
import { ENGINE_DEVICE, type EngineInternals, parseEngineOptions, startWebGpu } from './engine-options.js';
import { makeWasmContext } from './engine-wasm.js';
import { probeFeatures } from './runtime/probe.js';
import type { KernelSource } from './runtime/source.js';
import type { Platform } from './runtime/executors/spawn.js';
import { checkFinite } from './runtime/wasm/finite.js';
import { poolAtCall } from './runtime/wasm/pool-at-call.js';
import type {
  CflObjectiveOptions,
  CflObjectiveResult,
  CrossEntropyOptions,
  CrossEntropyResult,
  Engine,
  EngineInfo,
  EngineOptions,
  InfoNCEOptions,
  InfoNCEResult,
  PackageApi,
  PatchContrastOptions,
  PatchContrastResult,
} from './types.js';
import { checkFiniteJs } from './validate.js';
import { isGpuData } from './webgpu/resident/inputs.js';
import type { GpuRuntime } from './webgpu/device.js';
import type { LossName, WebGpuRoute } from './webgpu/select.js';

export type { EngineInternals };

/** What LossEngine implements: Engine with one wide signature per loss (Engine's overloads narrow the results). */
interface EngineImpl extends Omit<Engine, LossName | `${LossName}Sync`> {
  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult>;
  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult>;
  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult>;
  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult>;
  crossEntropySync(options: CrossEntropyOptions): CrossEntropyResult;
  patchContrastSync(options: PatchContrastOptions): PatchContrastResult;
  infoNCESync(options: InfoNCEOptions): InfoNCEResult;
  cflObjectiveSync(options: CflObjectiveOptions): CflObjectiveResult;
}

// Symbol.asyncDispose where the runtime has it, else the key TypeScript's `await using` looks for.
const asyncDispose: typeof Symbol.asyncDispose =
  Symbol.asyncDispose ?? (Symbol.for('Symbol.asyncDispose') as typeof Symbol.asyncDispose);

const disposedError = () => new Error('forgery-losses: this engine has been disposed');

/** Whether a call's features or logits are GPU buffers. */
function hasGpuInput(options: unknown): boolean {
  if (options === null || typeof options !== 'object') return false;
  const o = options as Record<string, unknown>;
  return isGpuData(o.features) || isGpuData(o.logits);
}

/** A sync call takes no signal and no progress callback: it cannot be stopped, and runs before it could report. */
function checkSyncOptions(loss: LossName, options: unknown): void {
  if (options === null || typeof options !== 'object') return;
  for (const key of ['signal', 'onProgress'] as const)
    if ((options as Record<string, unknown>)[key] !== undefined)
      throw new TypeError(
        `${loss}Sync takes no ${key}: a sync call runs to completion before it returns, so it can neither be ` +
          `stopped nor report progress; use the async ${loss} for that`,
      );
}

/** An engine's WebGPU side: the route of its async calls; on a caller's device, its sync calls on GPU buffers. */
interface GpuSide {
  route: WebGpuRoute;
  runtime: GpuRuntime;
  /** The caller's device, and the sync calls on its buffers. */
  device?: GPUDevice;
  onDevice?: (loss: LossName, options: unknown) => unknown;
}

/** The engine: one wasm context (and its workers), and the WebGPU route when there is one. */
class LossEngine implements EngineImpl {
  #disposed = false;

  readonly #ctx: LossContext;
  readonly #gpu: GpuSide | undefined;
  readonly #pool: PoolAtCall;

  /** `gpu` routes async calls to the WebGPU context (backend 'webgpu', or 'auto' with a usable adapter). */
  constructor(
    readonly info: EngineInfo,
    ctx: LossContext,
    gpu?: GpuSide,
  ) {
    this.#ctx = ctx;
    this.#gpu = gpu;
    const { inline, kernels, maxMemoryBytes } = ctx;
    this.#pool = {
      kernels,
      maxMemoryBytes,
      image: (features, first, g, zOut) => poolAtCall(inline.main.arena, maxMemoryBytes, features, first, g, zOut),
    };
  }

  /** The caller's device the engine runs on, if it was made on one. */
  get [ENGINE_DEVICE](): GPUDevice | undefined {
    return this.#gpu?.device;
  }

  /** Runs a call whose inputs are already taken. */
  runCall<T>(call: PreparedCall): Promise<T> {
    if (this.#disposed) return Promise.reject(disposedError());
    // An aborted signal stops the call before any work (its options were still checked).
    if (call.signal?.aborted) return Promise.reject(abortReason(call.signal));
    try {
      const run = (ctx: LossContext) => call.run(ctx) as Promise<T>;
      return this.#gpu ? this.#gpu.route.run(this.#ctx, call.work, run) : run(this.#ctx);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** How a call's inputs are taken: checked in wasm SIMD, copied into shared memory where workers need that. */
  #env(sync: boolean): PrepareEnv {
    const executor = this.#ctx.executor;
    const workers = sync ? executor.syncThreads : this.#gpu ? 1 : executor.threads;
    return {
      finite: (values, field, into) => checkFinite(this.#ctx.inline.main.arena, values, field, into),
      copies: this.#ctx.copies,
      // Bands (an image over every worker) need shared copies, and so do a sync call's workers.
      share: (images) => canShare && (sync ? workers > 1 : workers > images),
      // A call the route may send to WebGPU keeps its features for the device.
      pool: this.#gpu || !this.#ctx.poolAtCall ? undefined : this.#pool,
    };
  }

  /** A call, its inputs taken now. */
  prepare(loss: LossName, options: unknown, sync = false): PreparedCall {
    return prepareCall(loss, options, this.#env(sync));
  }

  #call<T>(loss: LossName, options: unknown): Promise<T> {
    if (this.#disposed) return Promise.reject(disposedError());
    try {
      return this.runCall(this.prepare(loss, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A sync call: on wasm (docs/api.md), on the workers where this thread may wait for them; GPU-buffer
   * inputs on the engine's device (docs/webgpu.md).
   */
  #callSync<T>(loss: LossName, options: unknown): T {
    if (this.#disposed) throw disposedError();
    checkSyncOptions(loss, options);
    if (hasGpuInput(options)) {
      const onDevice = this.#gpu?.onDevice;
      if (!onDevice)
        throw new TypeError(
          `${loss}Sync got GPU-buffer inputs: those need an engine made on their device, ` +
            `createEngine({ backend: 'webgpu', device }) (docs/webgpu.md)`,
        );
      return onDevice(loss, options) as T;
    }
    return this.prepare(loss, options, true).runSync(this.#ctx) as T;
  }

  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult> {
    return this.#call('crossEntropy', options);
  }

  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult> {
    return this.#call('patchContrast', options);
  }

  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult> {
    return this.#call('infoNCE', options);
  }

  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult> {
    return this.#call('cflObjective', options);
  }

  crossEntropySync(options: CrossEntropyOptions): CrossEntropyResult {
    return this.#callSync('crossEntropy', options);
  }

  patchContrastSync(options: PatchContrastOptions): PatchContrastResult {
    return this.#callSync('patchContrast', options);
  }

  infoNCESync(options: InfoNCEOptions): InfoNCEResult {
    return this.#callSync('infoNCE', options);
  }

  cflObjectiveSync(options: CflObjectiveOptions): CflObjectiveResult {
    return this.#callSync('cflObjective', options);
  }

  /** Wasm memory held: this thread's instances and, as they last reported it, its workers'. */
  memoryBytes(): number {
    const executor = this.#ctx.executor as Executor & { memoryBytes?: () => number };
    return this.#ctx.inline.memoryBytes() + (executor === this.#ctx.inline ? 0 : (executor.memoryBytes?.() ?? 0));
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    this.#ctx.copies.release();
    await this.#ctx.executor.dispose();
    await this.#gpu?.runtime.dispose();
  }

  [asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

export async function createEngineFrom(
  source: KernelSource,
  platform: Platform,
  options: EngineOptions = {},
  internals: EngineInternals = {},
): Promise<Engine> {
  const opts = parseEngineOptions(options);
  const features = probeFeatures();
  const notes: string[] = [];
  const webgpu = await startWebGpu(opts, features.webgpu, notes, internals);
  try {
    const ctx = await makeWasmContext(source, platform, opts, features, notes, internals);
    const info: EngineInfo = {
      backend: opts.backend === 'webgpu' ? 'webgpu' : ctx.backend,
      threads: ctx.executor.threads,
      syncThreads: ctx.executor.syncThreads,
      features: { ...features },
      notes,
      webgpu: webgpu.report,
    };
    if (!webgpu.runtime || !webgpu.lib) return new LossEngine(info, ctx) as unknown as Engine;
    // The WebGPU context: the same wrappers, its executor in place of the wasm one; no wasm memory limit applies.
    const gpuCtx: LossContext = {
      ...ctx,
      backend: 'webgpu',
      executor: new webgpu.lib.WebGpuExecutor(webgpu.runtime),
      maxMemoryBytes: Number.POSITIVE_INFINITY,
    };
    const mode = opts.backend === 'webgpu' ? 'webgpu' : 'auto';
    const route = new webgpu.lib.WebGpuRoute(mode, gpuCtx, ctx.executor.threads, opts.margin);
    const { runtime, lib } = webgpu;
    const finite = (values: Float32Array, field: string) => checkFinite(ctx.inline.main.arena, values, field);
    const onDevice = opts.device
      ? (loss: LossName, options: unknown) => lib.runOnDevice(runtime, ctx, loss, options, finite)
      : undefined;
    // Engine's overloads describe what the implementation returns (e.g. `grad` unless `grad: false`).
    return new LossEngine(info, ctx, { route, runtime, device: opts.device, onDevice }) as unknown as Engine;
  } catch (error) {
    await webgpu.runtime?.dispose();
    throw error;
  }
}

/** The public API over one kernel source and platform (the entries differ only in these). */
export function makeApi(source: KernelSource, platform: Platform, internals: EngineInternals = {}): PackageApi {
  let defaultEngine: Promise<LossEngine> | undefined;
  let ready: LossEngine | undefined;
  // threads 'auto': workers start only for a call that pays for them (runtime/executors/lazy-pool.ts).
  const engine = (): Promise<LossEngine> =>
    (defaultEngine ??= createEngineFrom(source, platform, { threads: 'auto' }, internals).then(
      (e) => (ready = e as unknown as LossEngine),
    ));
  // Before the default engine exists, a call's copies are its own (the engine's are not there yet).
  const early: PrepareEnv = { finite: checkFiniteJs, copies: new CopyCache(), share: () => false };
  /**
   * A loss on the default engine. The call's inputs are taken now, as on an engine, even while the
   * default engine is still being created (then with copies and the JavaScript finite check).
   */
  const topLevel = (loss: LossName) => (options: unknown) => {
    let call: PreparedCall;
    try {
      call = ready ? ready.prepare(loss, options) : prepareCall(loss, options, early);
    } catch (error) {
      return Promise.reject(error);
    }
    if (ready) return ready.runCall(call);
    const owned = call.own();
    return engine().then((e) => e.runCall(owned));
  };
  // The overloads of PackageApi are Engine's.
  return {
    createEngine: (options?: EngineOptions): Promise<Engine> => createEngineFrom(source, platform, options, internals),
    crossEntropy: topLevel('crossEntropy') as PackageApi['crossEntropy'],
    patchContrast: topLevel('patchContrast') as PackageApi['patchContrast'],
    infoNCE: topLevel('infoNCE') as PackageApi['infoNCE'],
    cflObjective: topLevel('cflObjective') as PackageApi['cflObjective'],
    drawInfoNCESample: drawInfoNCESample as PackageApi['drawInfoNCESample'],
  };
}
