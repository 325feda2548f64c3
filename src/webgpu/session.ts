// One async job's or one sync call's work on the device. Encoding is synchronous and runs inside
// error scopes that close before any await: on a device that the caller shares with a framework
// (TF.js), a scope left open across an await would catch the framework's errors.

import { WebGpuError } from './errors.js';
import type { KernelCache } from './kernels.js';
import type { Lane } from './lane.js';
import type { Recorder } from './recorder.js';

const MAP_READ = 1;

export class GpuSession {
  /** The popped scopes, validation then out-of-memory for each encoding. */
  readonly #scopes: Promise<GPUError | null>[] = [];

  readonly #lost: () => WebGpuError | null;

  /** `lost` says whether the device went away (then with the error to throw). */
  constructor(
    readonly lane: Lane,
    readonly kernels: KernelCache,
    lost: () => WebGpuError | null,
  ) {
    this.#lost = lost;
  }

  /** Runs `fn` (which records and submits) inside validation and out-of-memory error scopes. */
  encode<T>(fn: () => T): T {
    const device = this.lane.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      return fn();
    } finally {
      const quiet = (scope: Promise<GPUError | null>) => scope.catch(() => null);
      this.#scopes.push(quiet(device.popErrorScope()), quiet(device.popErrorScope()));
    }
  }

  /** Copies `size` bytes of each part into the read-back buffer, submits, and returns them. */
  async read(rec: Recorder, parts: { src: GPUBuffer; size: number }[]): Promise<ArrayBuffer[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const part of parts) {
      offsets.push(total);
      total += Math.ceil(part.size / 8) * 8;
    }
    const rb = this.encode(() => {
      const buffer = this.lane.readback(total);
      parts.forEach((part, i) => {
        rec.copy(part.src, 0, buffer, offsets[i], Math.ceil(part.size / 4) * 4);
      });
      rec.flush();
      return buffer;
    });
    try {
      await rb.mapAsync(MAP_READ, 0, total);
    } catch (error) {
      throw (
        this.#lost() ??
        new WebGpuError(`forgery-losses: reading WebGPU results failed: ${(error as Error).message}`, 'internal')
      );
    }
    const lost = this.#lost();
    if (lost) throw lost;
    const mapped = rb.getMappedRange(0, total);
    const out = parts.map((part, i) => mapped.slice(offsets[i], offsets[i] + part.size));
    rb.unmap();
    return out;
  }

  /** What the scopes caught, once they settle: out-of-memory first, then validation; or null. */
  async failure(): Promise<WebGpuError | null> {
    const caught = await Promise.all(this.#scopes);
    for (let i = 1; i < caught.length; i += 2) {
      const memory = caught[i];
      if (memory)
        return new WebGpuError(
          `forgery-losses: the GPU ran out of memory (${memory.message}); use smaller batches or backend "wasm"`,
          'memory',
        );
    }
    const validation = caught.find((e, i) => i % 2 === 0 && e);
    return validation
      ? new WebGpuError(`forgery-losses: WebGPU validation error: ${validation.message}`, 'internal')
      : null;
  }
}
