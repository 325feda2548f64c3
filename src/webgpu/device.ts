// The WebGPU device of an engine: its own (requested from the adapter, and requested anew after
// a loss) or the caller's (createEngine({ backend: 'webgpu', device }): never destroyed nor
// replaced). It holds the compiled kernels and two lanes of named buffers, and runs async jobs one
// at a time and sync calls whole (session.ts: error scopes around synchronous encoding only).
//
// Failures that are not the caller's fault (no adapter, device lost, out of GPU memory, a buffer
// over the adapter's limits) are `WebGpuError`s: backend 'webgpu' rejects with them, backend
// 'auto' runs the call on wasm instead. After any of them the runtime stays usable, but for the
// loss of a caller's device, after which every call says so.

import type { AdapterReport } from './adapter.js';
import { WebGpuError } from './errors.js';
import { KernelCache } from './kernels.js';
import { type GpuBudgets, Lane } from './lane.js';
import { GpuSession } from './session.js';

export type { AdapterReport, GpuBudgets };
export { WebGpuError };

// Imported, not bundled in, so that the adapter probe stays one chunk (docs/design.md §6).
const adapterModule = () => import('./adapter.js');

/** Default bytes of one gradient-weight strip (rows × columns of the similarity work). */
export const STRIP_BUDGET = 32 * 2 ** 20;
/** Default bytes of one uploaded slice of features or logits. */
export const SLICE_BUDGET = 64 * 2 ** 20;

/** What the test entry sets (engine-options.ts EngineInternals): small budgets, and a look at each device. */
export interface GpuOptions {
  budgets?: Partial<GpuBudgets>;
  onDevice?: (device: GPUDevice) => void;
}

/** The device's state while it lives: its kernels and lanes. */
interface Live {
  device: GPUDevice;
  generation: number;
  kernels: KernelCache;
  lanes: { async: Lane; sync: Lane };
}

const disposedError = () => new WebGpuError('forgery-losses: this engine has been disposed', 'unavailable');

export class GpuRuntime {
  readonly budgets: GpuBudgets;
  #live: Live | null = null;
  #adapter: GPUAdapter | null;
  #generation = 0;
  #lostMessage: string | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;
  /** What a sync call's error scopes caught after it returned: the next call throws it. */
  #deferred: WebGpuError | null = null;

  readonly #options: GpuOptions;

  private constructor(
    adapter: GPUAdapter | null,
    public report: AdapterReport,
    readonly owned: boolean,
    options: GpuOptions = {},
  ) {
    this.#options = options;
    this.#adapter = adapter;
    this.budgets = { strip: STRIP_BUDGET, slice: SLICE_BUDGET, ...options.budgets };
  }

  /** An adapter and a device of the engine's own; rejects with a WebGpuError saying why when there is none. */
  static async create(options?: GpuOptions): Promise<GpuRuntime> {
    const got = await (await adapterModule()).requestAdapter();
    if ('reason' in got)
      throw new WebGpuError(`forgery-losses: backend "webgpu" is unavailable: ${got.reason}`, 'unavailable');
    const runtime = new GpuRuntime(got.adapter, got.report, true, options);
    await runtime.ensureDevice();
    await runtime.#live?.kernels.all();
    return runtime;
  }

  /** An adapter probe that does not create a device (backend 'auto' until a call needs the GPU). */
  static fromAdapter(adapter: GPUAdapter, adapterReport: AdapterReport, options?: GpuOptions): GpuRuntime {
    return new GpuRuntime(adapter, adapterReport, true, options);
  }

  /** The runtime on a caller's device, every kernel compiled. */
  static async onDevice(device: GPUDevice, options?: GpuOptions): Promise<GpuRuntime> {
    const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const runtime = new GpuRuntime(null, (await adapterModule()).reportOf(info, device.limits), false, options);
    runtime.#adopt(device);
    await runtime.#live?.kernels.all();
    return runtime;
  }

  /** The device, requested now if the engine owns it and there is none or the last one was lost. */
  async ensureDevice(): Promise<GPUDevice> {
    if (this.#disposed) throw disposedError();
    if (this.#live) return this.#live.device;
    if (!this.owned) throw this.#lostError();
    let adapter = this.#adapter;
    this.#adapter = null; // an adapter hands out one device; a later request needs a fresh adapter
    if (!adapter) {
      const got = await (await adapterModule()).requestAdapter();
      if ('reason' in got)
        throw new WebGpuError(
          `forgery-losses: WebGPU is no longer ` +
            `available${this.#lostMessage ? ` after the device was lost (${this.#lostMessage})` : ''}: ${got.reason}`,
          'unavailable',
        );
      adapter = got.adapter;
      this.report = got.report;
    }
    let device: GPUDevice;
    try {
      const wanted = {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      };
      device = await adapter.requestDevice({ requiredLimits: wanted });
    } catch (error) {
      throw new WebGpuError(
        `forgery-losses: requesting a WebGPU device failed: ${(error as Error).message}`,
        'unavailable',
      );
    }
    this.#adopt(device);
    return device;
  }

  #adopt(device: GPUDevice): void {
    const generation = ++this.#generation;
    const lanes = { async: new Lane(device, this.budgets), sync: new Lane(device, this.budgets) };
    this.#live = { device, generation, kernels: new KernelCache(device), lanes };
    this.#lostMessage = null;
    void device.lost.then((info) =>
      this.#forget(generation, `${info.reason}${info.message ? `: ${info.message}` : ''}`),
    );
    this.#options.onDevice?.(device);
  }

  /** The device of `generation` is gone with everything it owned; an own device is requested anew by the next call. */
  #forget(generation: number, message: string): void {
    if (generation !== this.#generation || !this.#live) return;
    this.#live = null;
    this.#lostMessage = message;
  }

  /** The error to throw when the device of `generation` is gone, else null. */
  #lostSince(generation: number): WebGpuError | null {
    return generation === this.#generation && this.#live ? null : this.#lostError();
  }

  /**
   * What a failed job rejects with: the caller's RangeError as is; a lost device (API calls on it
   * throw before `device.lost` settles, so that is awaited briefly) as a 'lost' WebGpuError; any
   * other failure as a WebGpuError, so that backend 'auto' can run the call on wasm.
   */
  async #classify(error: unknown, device: GPUDevice, generation: number): Promise<unknown> {
    if (error instanceof RangeError || error instanceof TypeError) return error;
    const lost =
      generation !== this.#generation ||
      (await Promise.race([
        device.lost.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50)),
      ]));
    if (lost) {
      this.#forget(generation, this.#lostMessage ?? 'the device became unusable');
      return this.#lostError();
    }
    return internal(error);
  }

  #lostError(): WebGpuError {
    const why = this.#lostMessage ?? 'unknown reason';
    return this.owned
      ? new WebGpuError(
          `forgery-losses: the WebGPU device was lost during the call (${why}); the engine requests a new device ` +
            `on the next call`,
          'lost',
        )
      : new WebGpuError(
          `forgery-losses: the GPUDevice this engine was made on was lost (${why}); make a new engine on a new device`,
          'lost',
        );
  }

  /** The error a sync call's scopes caught after it returned, once. */
  #takeDeferred(): void {
    const deferred = this.#deferred;
    this.#deferred = null;
    if (deferred) throw deferred;
  }

  /** Runs an async job when every earlier one has finished (they share the async lane's buffers). */
  exclusive<T>(fn: (session: GpuSession) => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      this.#takeDeferred();
      await this.ensureDevice();
      const live = this.#live as Live;
      const { device, generation } = live;
      const session = new GpuSession(live.lanes.async, live.kernels, () => this.#lostSince(generation));
      let outcome: { value: T } | { error: unknown };
      try {
        outcome = { value: await fn(session) };
      } catch (error) {
        outcome = { error: await this.#classify(error, device, generation) };
      }
      const failure = await session.failure();
      live.lanes.async.sweep();
      const lost = this.#lostSince(generation);
      if (lost) throw lost;
      if (failure) throw failure;
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs a sync call whole: `fn` encodes and submits without waiting. What the error scopes catch
   * arrives later; the engine's next call throws it (docs/webgpu.md).
   */
  runSync<T>(fn: (session: GpuSession) => T): T {
    if (this.#disposed) throw disposedError();
    this.#takeDeferred();
    const live = this.#live;
    if (!live) throw this.#lostError();
    const generation = live.generation;
    const session = new GpuSession(live.lanes.sync, live.kernels, () => this.#lostSince(generation));
    try {
      return fn(session);
    } catch (error) {
      throw error instanceof RangeError || error instanceof TypeError || error instanceof WebGpuError
        ? error
        : internal(error);
    } finally {
      live.lanes.sync.sweep();
      void session.failure().then((failure) => {
        if (failure && generation === this.#generation) this.#deferred ??= failure;
      });
    }
  }

  /** Frees the engine's buffers; destroys the device only when the engine requested it. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#queue;
    const live = this.#live;
    this.#live = null;
    this.#generation++;
    if (!live) return;
    live.lanes.async.destroy();
    live.lanes.sync.destroy();
    if (this.owned) live.device.destroy();
  }
}

const internal = (error: unknown) =>
  error instanceof WebGpuError
    ? error
    : new WebGpuError(
        `forgery-losses: the WebGPU backend failed: ${(error as Error)?.message ?? String(error)}`,
        'internal',
      );
