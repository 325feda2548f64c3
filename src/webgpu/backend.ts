// What the engine needs of the WebGPU backend, in one module that engine.ts imports lazily
// (`import('./webgpu/backend.js')`): an engine that never asks for a GPU never loads it.

export { GpuRuntime } from './device.js';
export { WebGpuExecutor } from './executor.js';
export { runOnDevice } from './resident/calls.js';
export { COST, WebGpuRoute } from './select.js';
