// The named buffers of one lane of calls on a device, reused across its calls (grown when a call
// needs more). An engine has two lanes: async jobs (one at a time) and sync calls (each whole), so
// a sync call made while an async job waits for a read-back leaves that job's buffers alone.

import { WebGpuError } from './errors.js';
import { type Binding, Recorder } from './recorder.js';

export type { Binding };

// Numeric WebGPU flags (the GPUBufferUsage global does not exist outside WebGPU runtimes).
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
const STORAGE = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;

/** Work-splitting budgets in bytes (each also capped by maxStorageBufferBindingSize). */
export interface GpuBudgets {
  strip: number;
  slice: number;
}

export class Lane {
  #buffers = new Map<string, GPUBuffer>();
  #retired: GPUBuffer[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly budgets: GpuBudgets,
  ) {}

  get limits(): { maxBinding: number; maxBuffer: number } {
    return { maxBinding: this.device.limits.maxStorageBufferBindingSize, maxBuffer: this.device.limits.maxBufferSize };
  }

  /** A named storage buffer of at least `bytes` bytes, reused across calls; bound with `size` = bytes. */
  storage(name: string, bytes: number): Binding {
    return { buffer: this.#named(name, roundUp(bytes), STORAGE), size: bind(bytes) };
  }

  /**
   * A named result buffer of `bytes` bytes (rounded up to 4, at least 16: a tensor made from it
   * copies no more than its data), reused by the next call that needs the same size.
   */
  output(name: string, bytes: number): GPUBuffer {
    return this.#named(name, bind(bytes), STORAGE, true);
  }

  /** A named buffer for reading results back (MAP_READ). */
  readback(bytes: number): GPUBuffer {
    return this.#named('readback', roundUp(bytes), USAGE.MAP_READ | USAGE.COPY_DST);
  }

  paramsBuffer(bytes: number): GPUBuffer {
    return this.#named('params', roundUp(bytes), USAGE.UNIFORM | USAGE.COPY_DST);
  }

  recorder(): Recorder {
    return new Recorder(this.device, (bytes) => this.paramsBuffer(bytes));
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

  #named(name: string, size: number, usage: number, exact = false): GPUBuffer {
    if (size > this.device.limits.maxBufferSize) {
      throw new WebGpuError(
        `forgery-losses: a WebGPU buffer of ${mib(size)} is needed, over this device's maxBufferSize ` +
          `(${mib(this.device.limits.maxBufferSize)}); use backend "wasm" for this input`,
        'limits',
      );
    }
    const old = this.#buffers.get(name);
    if (old && (exact ? old.size === size : old.size >= size)) return old;
    if (old) this.#retired.push(old);
    const buffer = this.device.createBuffer({ label: `forgery-losses ${name}`, size, usage });
    this.#buffers.set(name, buffer);
    return buffer;
  }

  /** Destroys the buffers that calls outgrew (once their work is submitted: WebGPU keeps them until it is done). */
  sweep(): void {
    for (const buffer of this.#retired.splice(0)) buffer.destroy();
  }

  destroy(): void {
    this.sweep();
    for (const buffer of this.#buffers.values()) buffer.destroy();
    this.#buffers.clear();
  }
}

const roundUp = (bytes: number) => Math.max(256, Math.ceil(bytes / 256) * 256);
const bind = (bytes: number) => Math.max(16, Math.ceil(bytes / 4) * 4);
export const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 2 : 0)} MiB`;
