// One wasm instance as the runtime holds it: the kernels, their arena, and the buffers of merged
// part results kept for this instance's next parts. The calling thread has one (two: a sync call
// may run while an async one holds the first, executors/inline.ts), each worker one.

import { Arena } from './arena.js';
import { instantiateKernels, type Kernels } from './kernels.js';
import { PartBuffers } from './part-buffers.js';

export class WasmInstance {
  readonly arena: Arena;
  readonly parts = new PartBuffers();

  constructor(readonly kernels: Kernels) {
    this.arena = new Arena(kernels);
  }

  static async create(module: WebAssembly.Module): Promise<WasmInstance> {
    return new WasmInstance(await instantiateKernels(module));
  }
}
