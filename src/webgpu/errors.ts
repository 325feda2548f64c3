// WebGpuError in a module of its own: the route (select.ts), which every engine loads, tells it
// apart without importing the device and its shaders, which only an engine on a GPU loads.

/** A WebGPU failure that is not about the inputs: the engine reports it or falls back to wasm. */
export class WebGpuError extends Error {
  constructor(
    message: string,
    readonly reason: 'unavailable' | 'lost' | 'memory' | 'limits' | 'internal',
  ) {
    super(message);
    this.name = 'WebGpuError';
  }
}
