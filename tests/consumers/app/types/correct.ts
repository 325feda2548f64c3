// Correct uses of the package's types: every line compiles under `strict`, `skipLibCheck: false`.
import {
  type BackendName,
  cflObjective,
  createEngine,
  crossEntropy,
  drawInfoNCESample,
  type Engine,
  type EngineInfo,
  type GpuOutput,
  infoNCE,
  patchContrast,
  type Reduction,
} from 'forgery-losses';

const features = new Float32Array(2 * 4 * 8 * 8);
const logits = new Float32Array(2 * 2 * 8 * 8);
const mask = new Uint8Array(2 * 8 * 8);
const target = new Int32Array(2 * 8 * 8);
const dims: readonly number[] = [2, 4, 8, 8]; // onnxruntime-web's tensor.dims
const tuple = [2, 4, 8, 8] as const;

// grad omitted: the gradient is there, not optional; loss is a number.
const pc = await patchContrast({ features, mask, shape: dims, variant: 'cflnet' });
const pcGrad: Float32Array = pc.grad.features;
const pcLoss: number = pc.loss;
const grid: [number, number] = pc.grid;

const ce = await crossEntropy({ logits, target, shape: [2, 2, 8, 8], weight: [0.0892, 0.9108] });
const ceLoss: number = ce.loss;
const ceGrad: Float32Array = ce.grad.logits;
const ceNone = await crossEntropy({ logits, target, shape: [2, 2, 8, 8], reduction: 'none' });
const perPixel: Float32Array = ceNone.loss;
const ceSum = await crossEntropy({ logits, target, shape: [2, 2, 8, 8], reduction: 'sum', grad: true });
const sum: number = ceSum.loss;
const reduction = Math.random() > 0.5 ? 'mean' : 'none';
const either = await crossEntropy({ logits, target, shape: [2, 2, 8, 8], reduction: reduction as Reduction });
const eitherLoss: number | Float32Array = either.loss;

// grad known only at run time: optional.
const wantGrad = Math.random() > 0.5;
const nce = await infoNCE({ features, mask, shape: tuple, grad: wantGrad, sample: { maxPerClass: 10, seed: 0 } });
const ncePerImage: (number | null)[] = nce.perImageLoss;
const maybeGrad: Float32Array | undefined = nce.grad?.features;
const noGrad = await infoNCE({ features, mask, shape: tuple, grad: false });
const nceLoss: number = noGrad.loss;

const cfl = await cflObjective({ logits, features, mask, shape: dims, alpha: 0.5 });
const both: [Float32Array, Float32Array] = [cfl.grad.logits, cfl.grad.features];

async function scoped(): Promise<BackendName> {
  await using engine = await createEngine({ threads: 2, backend: 'wasm' });
  const info: EngineInfo = engine.info;
  const r = await engine.cflObjective({ logits, features, mask, shape: dims });
  r.grad.logits.fill(0);
  return info.backend === r.backend ? r.backend : 'wasm-simd';
}

const engine: Engine = await createEngine({ threads: 'auto', webgpuAuto: { margin: 2 } });
const drawn = drawInfoNCESample({ mask, shape: dims, maxPerClass: 3, seed: 1 });
const first: Int32Array | undefined = drawn.pristine[0];
await engine.dispose();

// An engine on a caller's GPU device: sync calls on GPU buffers give GPU buffers. The WebGPU types
// are structural (this project has no @webgpu/types): anything with a GPUBuffer's size and usage.
declare const device: { lost: Promise<unknown>; queue: object; createBuffer(descriptor: object): unknown };
declare const buffer: { readonly size: number; readonly usage: number };
const onGpu = await createEngine({ device });
const gpuNce = onGpu.infoNCESync({ features: { buffer, byteOffset: 256 }, mask, shape: dims });
const gpuLoss: GpuOutput = gpuNce.loss;
const gpuGrad: number = gpuNce.grad.features.byteLength;
const gpuCe = onGpu.crossEntropySync({ logits: { buffer }, target, shape: [2, 2, 8, 8], grad: false });
const gpuCeNoGrad: undefined = gpuCe.grad;
const hostOnGpuEngine: number = onGpu.patchContrastSync({ features, mask, shape: dims }).loss;

export const used = [pcGrad, pcLoss, grid, ceLoss, ceGrad, perPixel, sum, eitherLoss, ncePerImage, maybeGrad];
export const more = [nceLoss, both, scoped, first, gpuLoss, gpuGrad, gpuCeNoGrad, hostOnGpuEngine];
