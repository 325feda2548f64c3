// forgery-losses/tfjs: the losses as synchronous TF.js ops, with their gradients on TF.js's tape
// (`await ready()` once, then `optimizer.minimize(() => infoNCE(model(x), masks))`), as tfjs-layers
// loss functions, and in two phases for a page's main thread that wants workers. Usage, data
// movement and measurements: docs/tfjs.md.

export { type ReadyOptions, ready } from './tfjs/engine.js';
export type { CrossEntropyTarget, DataFormat, MaskInput } from './tfjs/inputs.js';
export * from './tfjs/layers.js';
export * from './tfjs/main-thread.js';
export * from './tfjs/ops.js';
