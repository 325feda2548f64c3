// The WebGPU device of an engine: adapter and device acquisition, device-loss handling, the
// pipeline cache (compiled on first use), named buffers that are reused across calls (grown when
// a call needs more), and a recorder that batches dispatches into submissions.
//
// Failures that are not the caller's fault (no adapter, device lost, out of GPU memory, a buffer
// over the adapter's limits) are `WebGpuError`s: backend 'webgpu' rejects with them, backend
// 'auto' runs the call on wasm instead. After any of them the runtime stays usable: a lost device
// is requested anew on the next call.

import { type AdapterReport, requestAdapter } from './adapter.js';
import { WebGpuError } from './errors.js';
import {
  type BindingsOf,
  KERNELS,
  type KernelDef,
  type KernelName,
  type Kernels,
  orderBindings,
  PARAM_BYTES,
  type ParamsOf,
  packParams,
} from './shaders/index.js';

// Numeric WebGPU flags (the GPUBufferUsage / GPUMapMode globals do not exist outside WebGPU runtimes).
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const COMPUTE = 4;
const MAP_READ = 1;
const PARAM_SLOT = 256;

export type { AdapterReport };
export { requestAdapter };

export { WebGpuError };

/** A compiled kernel: its pipeline and bind group layout, and the table it was built from. */
export interface Kernel<D extends KernelDef = KernelDef> {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  def: D;
}

/** A bound buffer: the whole buffer up to `size` bytes. */
export interface Binding {
  buffer: GPUBuffer;
  size: number;
}

type Op =
  | { kind: 'dispatch'; kernel: Kernel; bindings: Binding[]; params: Uint32Array; x: number; y: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };

/** Default bytes of one gradient-weight strip (rows × columns of the similarity work). */
export const STRIP_BUDGET = 32 * 2 ** 20;
/** Default bytes of one uploaded slice of features or logits. */
export const SLICE_BUDGET = 64 * 2 ** 20;

/** Work-splitting budgets in bytes (each also capped by maxStorageBufferBindingSize). */
export interface GpuBudgets {
  strip: number;
  slice: number;
}

/** What the test entry sets (engine-wasm.ts EngineInternals): small budgets, and a look at each device. */
export interface GpuOptions {
  budgets?: Partial<GpuBudgets>;
  onDevice?: (device: GPUDevice) => void;
}

export class GpuRuntime {
  readonly budgets: GpuBudgets;
  #device: GPUDevice | null = null;
  #adapter: GPUAdapter | null;
  #generation = 0;
  #lostMessage: string | null = null;
  #kernels = new Map<KernelName, Promise<Kernel>>();
  #buffers = new Map<string, GPUBuffer>();
  #retired: GPUBuffer[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  readonly #options: GpuOptions;

  private constructor(
    adapter: GPUAdapter,
    public report: AdapterReport,
    options: GpuOptions = {},
  ) {
    this.#options = options;
    this.#adapter = adapter;
    this.budgets = { strip: STRIP_BUDGET, slice: SLICE_BUDGET, ...options.budgets };
  }

  /** Requests an adapter and a device; rejects with a WebGpuError saying why when there is none. */
  static async create(options?: GpuOptions): Promise<GpuRuntime> {
    const got = await requestAdapter();
    if ('reason' in got)
      throw new WebGpuError(`forgery-losses: backend "webgpu" is unavailable: ${got.reason}`, 'unavailable');
    const runtime = new GpuRuntime(got.adapter, got.report, options);
    await runtime.ensureDevice();
    return runtime;
  }

  /** An adapter probe that does not create a device (backend 'auto' until a call needs the GPU). */
  static fromAdapter(adapter: GPUAdapter, adapterReport: AdapterReport, options?: GpuOptions): GpuRuntime {
    return new GpuRuntime(adapter, adapterReport, options);
  }

  get limits(): { maxBinding: number; maxBuffer: number } {
    const d = this.#requireDevice();
    return { maxBinding: d.limits.maxStorageBufferBindingSize, maxBuffer: d.limits.maxBufferSize };
  }

  /** The device, requested now if there is none or the last one was lost. */
  async ensureDevice(): Promise<GPUDevice> {
    if (this.#disposed) throw new WebGpuError('forgery-losses: this engine has been disposed', 'unavailable');
    if (this.#device) return this.#device;
    let adapter = this.#adapter;
    this.#adapter = null; // an adapter hands out one device; a later request needs a fresh adapter
    if (!adapter) {
      const got = await requestAdapter();
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
    const generation = ++this.#generation;
    this.#device = device;
    this.#lostMessage = null;
    void device.lost.then((info) =>
      this.#forget(generation, `${info.reason}${info.message ? `: ${info.message}` : ''}`),
    );
    this.#options.onDevice?.(device);
    return device;
  }

  /** The device of `generation` is gone with everything it owned; the next call requests a new one. */
  #forget(generation: number, message: string): void {
    if (generation !== this.#generation || !this.#device) return;
    this.#device = null;
    this.#kernels.clear();
    this.#buffers.clear();
    this.#retired = [];
    this.#lostMessage = message;
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
    if (error instanceof WebGpuError) return error;
    return new WebGpuError(
      `forgery-losses: the WebGPU backend failed: ${(error as Error)?.message ?? String(error)}`,
      'internal',
    );
  }

  #requireDevice(): GPUDevice {
    if (!this.#device) throw this.#lostError();
    return this.#device;
  }

  #lostError(): WebGpuError {
    return new WebGpuError(
      `forgery-losses: the WebGPU device was lost during the call (${this.#lostMessage ?? 'unknown reason'}); the ` +
        `engine requests a new device on the next call`,
      'lost',
    );
  }

  /** Runs `fn` when every earlier job has finished: jobs share the cached buffers. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      await this.ensureDevice();
      const device = this.#requireDevice();
      const generation = this.#generation;
      device.pushErrorScope('out-of-memory');
      device.pushErrorScope('validation');
      let outcome: { value: T } | { error: unknown };
      try {
        outcome = { value: await fn() };
      } catch (error) {
        outcome = { error: await this.#classify(error, device, generation) };
      }
      const [validation, memory] = await Promise.all([
        device.popErrorScope().catch(() => null),
        device.popErrorScope().catch(() => null),
      ]);
      for (const buffer of this.#retired.splice(0)) buffer.destroy();
      if (generation !== this.#generation || !this.#device) throw this.#lostError();
      if (memory)
        throw new WebGpuError(
          `forgery-losses: the GPU ran out of memory (${memory.message}); use smaller batches or backend "wasm"`,
          'memory',
        );
      if (validation)
        throw new WebGpuError(`forgery-losses: WebGPU validation error: ${validation.message}`, 'internal');
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** A compiled kernel (pipeline and bind group layout), cached per device. */
  kernel<N extends KernelName>(name: N): Promise<Kernel<Kernels[N]>> {
    let k = this.#kernels.get(name);
    if (!k) {
      const device = this.#requireDevice();
      const def: KernelDef = KERNELS[name];
      const entries: GPUBindGroupLayoutEntry[] = [
        {
          binding: 0,
          visibility: COMPUTE,
          buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_BYTES },
        },
      ];
      def.access.forEach((access, i) => {
        entries.push({
          binding: i + 1,
          visibility: COMPUTE,
          buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
        });
      });
      const layout = device.createBindGroupLayout({ entries });
      const module = device.createShaderModule({ code: def.code, label: name });
      const compiled = device
        .createComputePipelineAsync({
          label: name,
          layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
          compute: { module, entryPoint: 'main' },
        })
        .then((pipeline): Kernel => ({ pipeline, layout, def }));
      compiled.catch(() => {
        if (this.#kernels.get(name) === compiled) this.#kernels.delete(name);
      });
      this.#kernels.set(name, compiled);
      k = compiled;
    }
    return k as Promise<Kernel<Kernels[N]>>;
  }

  /** Loads every kernel a job needs before recording (compilation runs in parallel). */
  async kernelsFor<N extends KernelName>(names: readonly N[]): Promise<{ [K in N]: Kernel<Kernels[K]> }> {
    const out = {} as { [K in N]: Kernel<Kernels[K]> };
    await Promise.all(
      names.map(async (n) => {
        out[n] = await this.kernel(n);
      }),
    );
    return out;
  }

  /** A named storage buffer of at least `bytes` bytes, reused across calls; bound with `size` = bytes. */
  storage(name: string, bytes: number): Binding {
    return { buffer: this.#named(name, bytes, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST), size: bind(bytes) };
  }

  /** A named buffer for reading results back (MAP_READ). */
  readback(bytes: number): GPUBuffer {
    return this.#named('readback', bytes, USAGE.MAP_READ | USAGE.COPY_DST);
  }

  #named(name: string, bytes: number, usage: number): GPUBuffer {
    const device = this.#requireDevice();
    const size = Math.max(256, Math.ceil(bytes / 256) * 256);
    if (size > device.limits.maxBufferSize) {
      throw new WebGpuError(
        `forgery-losses: a WebGPU buffer of ${mib(size)} is needed, over this device's maxBufferSize ` +
          `(${mib(device.limits.maxBufferSize)}); use backend "wasm" for this input`,
        'limits',
      );
    }
    const old = this.#buffers.get(name);
    if (old && old.size >= size) return old;
    if (old) this.#retired.push(old);
    const buffer = device.createBuffer({ label: name, size, usage });
    this.#buffers.set(name, buffer);
    return buffer;
  }

  /** Throws a WebGpuError when one binding would exceed maxStorageBufferBindingSize. */
  checkBinding(bytes: number, what: string): void {
    const max = this.limits.maxBinding;
    if (bytes > max) {
      throw new WebGpuError(
        `forgery-losses: ${what} needs a WebGPU buffer binding of ${mib(bytes)}, over this adapter's ` +
          `maxStorageBufferBindingSize (${mib(max)}); use backend "wasm" for this input`,
        'limits',
      );
    }
  }

  recorder(): Recorder {
    return new Recorder(this, this.#requireDevice());
  }

  /** Copies `size` bytes of each part into the readback buffer, submits, and returns them. */
  async read(rec: Recorder, parts: { src: GPUBuffer; size: number }[]): Promise<ArrayBuffer[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const part of parts) {
      offsets.push(total);
      total += Math.ceil(part.size / 8) * 8;
    }
    const rb = this.readback(total);
    parts.forEach((part, i) => {
      rec.copy(part.src, 0, rb, offsets[i], Math.ceil(part.size / 4) * 4);
    });
    rec.flush();
    const generation = this.#generation;
    try {
      await rb.mapAsync(MAP_READ, 0, total);
    } catch (error) {
      if (generation !== this.#generation || !this.#device) throw this.#lostError();
      throw new WebGpuError(`forgery-losses: reading WebGPU results failed: ${(error as Error).message}`, 'internal');
    }
    if (generation !== this.#generation || !this.#device) throw this.#lostError();
    const mapped = rb.getMappedRange(0, total);
    const out = parts.map((part, i) => mapped.slice(offsets[i], offsets[i] + part.size));
    rb.unmap();
    return out;
  }

  paramsBuffer(bytes: number): GPUBuffer {
    return this.#named('params', bytes, USAGE.UNIFORM | USAGE.COPY_DST);
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#queue;
    for (const buffer of this.#buffers.values()) buffer.destroy();
    this.#buffers.clear();
    this.#kernels.clear();
    const device = this.#device;
    this.#device = null;
    this.#generation++;
    device?.destroy();
  }
}

const bind = (bytes: number) => Math.max(16, Math.ceil(bytes / 4) * 4);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;

/**
 * Records dispatches and copies; `write` and `flush` submit what was recorded, so queue writes
 * land between the submissions that need them (the queue keeps their order).
 */
export class Recorder {
  #ops: Op[] = [];

  readonly #runtime: GpuRuntime;
  readonly #device: GPUDevice;

  constructor(runtime: GpuRuntime, device: GPUDevice) {
    this.#runtime = runtime;
    this.#device = device;
  }

  /** Workgroup counts for `count` invocations of a 64-wide kernel (2-D past 65,535 groups). */
  static grid(count: number): [number, number] {
    const groups = Math.max(1, Math.ceil(count / 64));
    const x = Math.min(groups, 65535);
    return [x, Math.ceil(groups / x)];
  }

  /** Records a dispatch of `kernel` with its buffers and parameters by name (see shaders/kernel.ts). */
  dispatch<D extends KernelDef>(
    kernel: Kernel<D>,
    bindings: BindingsOf<D, Binding>,
    params: ParamsOf<D>,
    x: number,
    y = 1,
  ): void {
    if (x > 65535 || y > 65535)
      throw new WebGpuError(
        `forgery-losses: a WebGPU dispatch of ${x}×${y} workgroups exceeds the limit of 65,535 per dimension; ` +
          `use backend "wasm" for this input`,
        'limits',
      );
    const def = kernel.def;
    this.#ops.push({
      kind: 'dispatch',
      kernel,
      bindings: orderBindings(def, bindings),
      params: packParams(def, params),
      x,
      y,
    });
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.#ops.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
  }

  write(binding: Binding | GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.flush();
    const buffer = 'buffer' in binding ? binding.buffer : binding;
    this.#device.queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  }

  flush(): void {
    if (this.#ops.length === 0) return;
    const dispatches = this.#ops.filter((op) => op.kind === 'dispatch');
    const params = this.#runtime.paramsBuffer(Math.max(1, dispatches.length) * PARAM_SLOT);
    const data = new ArrayBuffer(Math.max(1, dispatches.length) * PARAM_SLOT);
    dispatches.forEach((op, i) => {
      new Uint32Array(data, i * PARAM_SLOT, op.params.length).set(op.params);
    });
    this.#device.queue.writeBuffer(params, 0, data);
    const encoder = this.#device.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    let slot = 0;
    for (const op of this.#ops) {
      if (op.kind === 'copy') {
        pass?.end();
        pass = null;
        encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
        continue;
      }
      pass ??= encoder.beginComputePass();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: params, offset: 0, size: PARAM_BYTES } }];
      op.bindings.forEach((b, i) => {
        entries.push({
          binding: i + 1,
          resource: { buffer: b.buffer, offset: 0, size: Math.min(b.size, b.buffer.size) },
        });
      });
      pass.setPipeline(op.kernel.pipeline);
      pass.setBindGroup(0, this.#device.createBindGroup({ layout: op.kernel.layout, entries }), [slot * PARAM_SLOT]);
      pass.dispatchWorkgroups(op.x, op.y);
      slot++;
    }
    pass?.end();
    this.#device.queue.submit([encoder.finish()]);
    this.#ops = [];
  }
}
