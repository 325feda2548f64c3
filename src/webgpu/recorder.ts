// Records dispatches, copies and clears; `write` and `flush` submit what was recorded, so queue
// writes land between the submissions that need them (the queue keeps their order).

import type { Kernel } from './kernels.js';
import { WebGpuError } from './errors.js';
import {
  type BindingsOf,
  type KernelDef,
  orderBindings,
  PARAM_BYTES,
  type ParamsOf,
  packParams,
} from './shaders/index.js';

/** A bound buffer: the whole buffer up to `size` bytes. */
export interface Binding {
  buffer: GPUBuffer;
  size: number;
}

/** Bytes between two dispatches' parameter blocks (the minimum uniform offset alignment). */
const PARAM_SLOT = 256;

type Op =
  | { kind: 'dispatch'; kernel: Kernel; bindings: Binding[]; params: Uint32Array; x: number; y: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number };

export class Recorder {
  #ops: Op[] = [];

  readonly #device: GPUDevice;
  readonly #paramsBuffer: (bytes: number) => GPUBuffer;

  constructor(device: GPUDevice, paramsBuffer: (bytes: number) => GPUBuffer) {
    this.#device = device;
    this.#paramsBuffer = paramsBuffer;
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

  /** Zeroes `size` bytes of `buffer` from `offset` (both multiples of 4). */
  clear(buffer: GPUBuffer, offset: number, size: number): void {
    this.#ops.push({ kind: 'clear', buffer, offset, size });
  }

  write(binding: Binding | GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.flush();
    const buffer = 'buffer' in binding ? binding.buffer : binding;
    this.#device.queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  }

  flush(): void {
    if (this.#ops.length === 0) return;
    const dispatches = this.#ops.filter((op) => op.kind === 'dispatch');
    const params = this.#paramsBuffer(Math.max(1, dispatches.length) * PARAM_SLOT);
    const data = new ArrayBuffer(Math.max(1, dispatches.length) * PARAM_SLOT);
    dispatches.forEach((op, i) => {
      new Uint32Array(data, i * PARAM_SLOT, op.params.length).set(op.params);
    });
    this.#device.queue.writeBuffer(params, 0, data);
    const encoder = this.#device.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    let slot = 0;
    for (const op of this.#ops) {
      if (op.kind !== 'dispatch') {
        pass?.end();
        pass = null;
        if (op.kind === 'copy') encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.size);
        else encoder.clearBuffer(op.buffer, op.offset, op.size);
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
