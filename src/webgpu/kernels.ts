// The compiled kernels of one device: pipelines and bind group layouts built from the kernel
// tables (shaders/kernel.ts), compiled in parallel. An engine on a GPU compiles them all when it
// is made (a sync call cannot wait for a compilation); backend 'auto' compiles what a call needs.

import { KERNELS, type KernelDef, type KernelName, type Kernels, PARAM_BYTES } from './shaders/index.js';

const COMPUTE = 4;

/** A compiled kernel: its pipeline and bind group layout, and the table it was built from. */
export interface Kernel<D extends KernelDef = KernelDef> {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  def: D;
}

/** Compiled kernels by name. */
export type CompiledKernels<N extends KernelName = KernelName> = { [K in N]: Kernel<Kernels[K]> };

export class KernelCache {
  #pending = new Map<KernelName, Promise<Kernel>>();
  #ready = new Map<KernelName, Kernel>();

  readonly #device: GPUDevice;

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Compiles every kernel of the backend. */
  async all(): Promise<void> {
    await this.load(Object.keys(KERNELS) as KernelName[]);
  }

  /** The kernels `names`, compiled now if they are not yet (in parallel). */
  async load<N extends KernelName>(names: readonly N[]): Promise<CompiledKernels<N>> {
    await Promise.all(names.map((name) => this.#compile(name)));
    return this.now(names);
  }

  /** Every kernel, all compiled (an engine on a GPU compiles them when it is made). */
  every(): CompiledKernels {
    return this.now(Object.keys(KERNELS) as KernelName[]);
  }

  /** The kernels `names`, which must have been compiled. */
  now<N extends KernelName>(names: readonly N[]): CompiledKernels<N> {
    const out = {} as Record<KernelName, Kernel>;
    for (const name of names) {
      const kernel = this.#ready.get(name);
      if (!kernel) throw new Error(`forgery-losses: internal error: WebGPU kernel ${name} is not compiled`);
      out[name] = kernel;
    }
    return out as unknown as CompiledKernels<N>;
  }

  #compile(name: KernelName): Promise<Kernel> {
    const known = this.#pending.get(name);
    if (known) return known;
    const device = this.#device;
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
      .then((pipeline): Kernel => {
        const kernel = { pipeline, layout, def };
        this.#ready.set(name, kernel);
        return kernel;
      });
    compiled.catch(() => {
      if (this.#pending.get(name) === compiled) this.#pending.delete(name);
    });
    this.#pending.set(name, compiled);
    return compiled;
  }
}
