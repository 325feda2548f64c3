// Wrong uses of the package's types: each marked line must be a type error (tsc fails on an
// unused @ts-expect-error).
import { type BackendName, createEngine, crossEntropy, infoNCE, patchContrast } from 'forgery-losses';

const features = new Float32Array(2 * 4 * 8 * 8);
const logits = new Float32Array(2 * 2 * 8 * 8);
const mask = new Uint8Array(2 * 8 * 8);
const target = new Int32Array(2 * 8 * 8);
const shape = [2, 4, 8, 8] as const;

// @ts-expect-error features must be a Float32Array
await patchContrast({ features: new Float64Array(8), mask, shape });
// @ts-expect-error mask is required
await patchContrast({ features, shape });
// @ts-expect-error an unknown option (a typo)
await patchContrast({ features, mask, shape, temprature: 0.1 });
// @ts-expect-error variant is 'exact' or 'cflnet'
await patchContrast({ features, mask, shape, variant: 'paper' });
// @ts-expect-error shape is an array of numbers
await patchContrast({ features, mask, shape: '2,4,8,8' });
// @ts-expect-error reduction 'avg' does not exist
await crossEntropy({ logits, target, shape, reduction: 'avg' });
// @ts-expect-error target must be an integer typed array
await crossEntropy({ logits, target: [0, 1], shape });

const none = await crossEntropy({ logits, target, shape, reduction: 'none' });
// @ts-expect-error reduction 'none' gives the per-element losses, not a number
export const total: number = none.loss;

const noGrad = await patchContrast({ features, mask, shape, grad: false });
// @ts-expect-error grad: false computes no gradient
noGrad.grad.features;

const runtime = Math.random() > 0.5;
const maybe = await infoNCE({ features, mask, shape, grad: runtime });
// @ts-expect-error the gradient is there only when grad is true
maybe.grad.features;

// @ts-expect-error threads is a number or 'auto'
await createEngine({ threads: 'many' });
// @ts-expect-error backend is 'auto', 'wasm' or 'webgpu'
await createEngine({ backend: 'cuda' });
// @ts-expect-error BackendName has no 'cuda'
export const backend: BackendName = 'cuda';

const engine = await createEngine();
// @ts-expect-error positive is 'mean-logit' or 'mean-exp'
await engine.infoNCE({ features, mask, shape, positive: 'max' });
// @ts-expect-error cflObjective needs logits
await engine.cflObjective({ features, mask, shape });
// @ts-expect-error the engine has no such loss
await engine.focalLoss({ features, mask, shape });

declare const buffer: { readonly size: number; readonly usage: number };
const gpu = await createEngine({ backend: 'webgpu' });
// @ts-expect-error a sync call on GPU buffers takes no gradInto (its gradient is a buffer of the engine's)
gpu.infoNCESync({ features: { buffer }, mask, shape, gradInto: { features } });
// @ts-expect-error a result on the device is a buffer, not a number
export const gpuLoss: number = gpu.patchContrastSync({ features: { buffer }, mask, shape }).loss;
