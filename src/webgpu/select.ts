// How an engine with backend 'auto' or 'webgpu' routes a call.
//
// 'webgpu': every call runs on the GPU; a WebGPU failure (device lost, out of memory, a buffer
// over the adapter's limits) rejects the call with a WebGpuError and the next call requests a
// device again.
//
// 'auto': a call goes to the GPU only when (1) an adapter exists and is not a fallback/software
// adapter, and (2) a cost model says the GPU wins by a margin, counting what it costs to move the
// data:
//
//   wasm_ms = MACs / (WASM_MACS_PER_MS · threads)
//   gpu_ms  = GPU_CALL_MS + GPU_IMAGE_MS · images + bytes moved / GPU_BYTES_PER_MS + MACs / GPU_MACS_PER_MS
//   WebGPU  ⇔  margin · gpu_ms < wasm_ms            (margin 2 by default)
//
// MACs count the similarity work (the O(N²·C) part) of every pass the GPU path runs; bytes are
// the features uploaded and the gradient read back. wasm's rate is measured (≈36 GFLOP/s per core
// for the packed GEMM tile, DESIGN.md section 4; 15 GMAC/s leaves room for the exp/log passes).
// The GPU constants could not be measured here (no GPU on the reference machine): they are those
// of a modest GPU behind PCIe (0.5 TFLOP/s reached by these plain tiled kernels, 4 GB/s for an
// upload + read-back round trip through staging buffers, 2 ms of submit/map latency per call).
// With them (B = 1, C = 256, gradient on), patchContrast moves to the GPU from about 480 patches
// per image (an 88×88 map at p = 4) with 1 wasm thread, 840 (116×116) with 2; InfoNCE from about
// 300 queries × 300 negatives (64×64 map), 470 × 470 with 2 threads. The papers' sizes (DESIGN.md
// section 4: 3,136 patches; 1,000 × 1,000 samples) go to the GPU. crossEntropy never does: it
// is memory-bound (a few flops per byte), so moving the logits and the gradient over the bus
// costs more than the wasm pass itself. cflObjective follows its patch-contrast part.

import type { WasmContext } from '../losses/context';
import { WebGpuError } from './device';

export const COST = {
  wasmMacsPerMsPerThread: 15e6,
  gpuMacsPerMs: 250e6,
  gpuBytesPerMs: 4e6,
  gpuCallMs: 2,
  gpuImageMs: 0.25,
  margin: 2,
} as const;

/** The work of one call: similarity multiply-adds, bytes moved to and from the GPU, images. */
export interface Work {
  macs: number;
  bytes: number;
  images: number;
}

export type LossName = 'crossEntropy' | 'patchContrast' | 'infoNCE' | 'cflObjective';

/** True when the cost model sends `work` to the GPU (see the header). */
export function gpuPays(work: Work, threads: number, margin: number = COST.margin): boolean {
  if (!(work.macs > 0)) return false;
  const wasmMs = work.macs / (COST.wasmMacsPerMsPerThread * Math.max(1, threads));
  const gpuMs =
    COST.gpuCallMs + COST.gpuImageMs * work.images + work.bytes / COST.gpuBytesPerMs + work.macs / COST.gpuMacsPerMs;
  return margin * gpuMs < wasmMs;
}

type Options = Record<string, unknown>;

function shapeOf(o: Options): [number, number, number, number] | null {
  const s = o.shape;
  if (!Array.isArray(s) || s.length !== 4 || !s.every((d) => Number.isInteger(d) && d > 0)) return null;
  return s as [number, number, number, number];
}

function patchWork(o: Options, variant: unknown): Work | null {
  const shape = shapeOf(o);
  if (!shape) return null;
  const [b, c, h, w] = shape;
  const p = typeof o.patchSize === 'number' ? o.patchSize : 4;
  if (!(p >= 1) || h % p !== 0 || w % p !== 0) return null;
  const n = (h / p) * (w / p);
  const grad = o.grad !== false;
  const passes = (variant === 'cflnet' ? 3 : 2) + (grad ? 2 : 0);
  return { macs: b * passes * n * n * c, bytes: b * c * h * w * 4 * (grad ? 2 : 1), images: b };
}

/** |Q| and |K| of every image, as the infoNCE wrapper builds them (upper bounds for a seeded sample). */
function infoNCECounts(o: Options, b: number, hw: number): [number, number][] | null {
  const mask = o.mask;
  if (!(mask instanceof Float32Array || mask instanceof Uint8Array) || mask.length !== b * hw) return null;
  const sample = o.sample as Record<string, unknown> | undefined;
  const counts: [number, number][] = [];
  for (let i = 0; i < b; i++) {
    if (sample && Array.isArray(sample.pristine) && Array.isArray(sample.forged)) {
      counts.push([
        (sample.pristine[i] as ArrayLike<number>)?.length ?? 0,
        (sample.forged[i] as ArrayLike<number>)?.length ?? 0,
      ]);
      continue;
    }
    let j = 0,
      m = 0;
    for (let k = i * hw; k < (i + 1) * hw; k++) {
      if (mask[k] === 0) j++;
      else if (mask[k] === 1) m++;
    }
    const cap = sample && typeof sample.maxPerClass === 'number' ? sample.maxPerClass : Number.POSITIVE_INFINITY;
    counts.push([Math.min(j, cap), Math.min(m, cap)]);
  }
  return counts;
}

function infoNCEWork(o: Options): Work | null {
  const shape = shapeOf(o);
  if (!shape) return null;
  const [b, c, h, w] = shape;
  const counts = infoNCECounts(o, b, h * w);
  if (!counts) return null;
  const grad = o.grad !== false,
    meanExp = o.positive === 'mean-exp';
  let macs = 0,
    rows = 0;
  for (const [j, m] of counts) {
    if (j < 2 || m < 1) continue;
    macs += j * m * c * (grad ? 5 : 1) + (meanExp ? j * j * c * (grad ? 3 : 1) : 0);
    rows += j + m;
  }
  return { macs, bytes: b * c * h * w * 4 + (grad ? rows * c * 4 : 0), images: b };
}

/** The estimated work of a call, or null when the call stays on wasm whatever its size. */
export function estimateWork(loss: LossName, options: unknown): Work | null {
  if (options === null || typeof options !== 'object') return null;
  const o = options as Options;
  switch (loss) {
    case 'patchContrast':
      return patchWork(o, o.variant);
    case 'cflObjective':
      return patchWork(o, 'cflnet');
    case 'infoNCE':
      return infoNCEWork(o);
    default:
      return null; // crossEntropy: memory-bound, see the header
  }
}

/** Routes calls of an engine between its wasm context and its WebGPU context. */
export class WebGpuRoute {
  /** Why the last 'auto' call that was meant for the GPU ran on wasm, if one did. */
  lastFallback: string | null = null;

  constructor(
    readonly mode: 'webgpu' | 'auto',
    private readonly gpu: WasmContext,
    private readonly threads: number,
    private readonly margin: number,
  ) {}

  async run<T>(
    wasm: WasmContext,
    loss: LossName,
    options: unknown,
    fn: (ctx: WasmContext) => T | Promise<T>,
  ): Promise<T> {
    if (this.mode === 'webgpu') return fn(this.gpu);
    let work: Work | null = null;
    try {
      work = estimateWork(loss, options);
    } catch {
      work = null; // odd options: the wasm wrapper reports them
    }
    if (!work || !gpuPays(work, this.threads, this.margin)) return fn(wasm);
    try {
      return await fn(this.gpu);
    } catch (error) {
      if (!(error instanceof WebGpuError)) throw error;
      // Documented fallback: the call runs on wasm, and its result's backend says so.
      this.lastFallback = error.message;
      return fn(wasm);
    }
  }
}
