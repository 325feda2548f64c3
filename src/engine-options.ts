// createEngine's options, checked, and the WebGPU side an engine starts with.

import type { EngineInfo, EngineOptions } from './types.js';
import { checkChoice, checkOptions } from './validate.js';
import type { CopyCache } from './runtime/copies.js';
import type { GpuOptions, GpuRuntime } from './webgpu/device.js';
import { COST } from './webgpu/select.js';

// The WebGPU backend (device, executor, shaders) is loaded only by an engine that may use a GPU;
// backend 'auto' first probes the adapter with the small adapter module.
const loadWebGpu = () => import('./webgpu/backend.js');
const loadAdapterProbe = () => import('./webgpu/adapter.js');
type WebGpuBackend = Awaited<ReturnType<typeof loadWebGpu>>;

// wasm32 addresses 4 GiB; the kernels' arena cannot use the last 64 KiB page (its allocator's end
// offset would wrap), and the module's static data sits below the arena.
const WASM32_LIMIT = 4 * 2 ** 30 - 2 ** 17;

/**
 * The key under which an engine made on a caller's device holds it (forgery-losses/tfjs asks
 * whether an engine is on TF.js's device). A registered symbol: the tfjs entry is a bundle of its own.
 */
export const ENGINE_DEVICE = Symbol.for('forgery-losses.engine-device');

/** Most threads an engine takes: each worker holds a wasm instance and its memory. */
const MAX_THREADS = 256;

/**
 * What the test entry (src/testing.ts) sets and the published entries leave at their defaults:
 * smaller parts (so that small images split), less room for dZ slots, its own copy cache to look
 * into, a shorter wait for a stalled worker, and on WebGPU small budgets (so that small calls
 * split) and a look at the device.
 */
export interface EngineInternals {
  partWork?: number;
  maxSlotFloats?: number;
  /** false: patchContrast copies its features and pools them in a task, as on an engine with WebGPU. */
  poolAtCall?: boolean;
  copies?: CopyCache;
  stallMs?: number;
  gpu?: GpuOptions;
}

const ENGINE_OPTIONS = ['threads', 'workers', 'backend', 'device', 'wasmBuild', 'maxMemoryBytes', 'webgpuAuto'];

/** `device`: a GPUDevice (the engine runs on it: backend 'webgpu'), or undefined. */
function checkDevice(device: unknown, backend: unknown): GPUDevice | undefined {
  if (device === undefined) return undefined;
  const d = device as GPUDevice;
  if (d === null || typeof d !== 'object' || typeof d.createBuffer !== 'function' || !d.queue || !d.lost)
    throw new TypeError('device must be a GPUDevice (navigator.gpu adapter.requestDevice(), or tf.backend().device)');
  if (backend !== undefined && backend !== 'webgpu')
    throw new TypeError(
      `device runs the engine on that GPU: backend must be 'webgpu' or left out; got ${String(backend)}`,
    );
  return d;
}

export function parseEngineOptions(options: EngineOptions) {
  checkOptions(options, 'createEngine', ENGINE_OPTIONS);
  const device = checkDevice(options.device, options.backend);
  const backend = device
    ? 'webgpu'
    : checkChoice(options.backend, 'backend', ['auto', 'wasm', 'webgpu'] as const, 'auto');
  const wasmBuild = checkChoice(options.wasmBuild, 'wasmBuild', ['auto', 'simd', 'relaxed-simd'] as const, 'auto');
  const workers = checkChoice(options.workers, 'workers', ['lazy', 'eager'] as const, 'lazy');
  const threads = options.threads ?? 1;
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS))
    throw new RangeError(`threads must be an integer in [1, ${MAX_THREADS}] or 'auto'; got ${String(threads)}`);
  const maxMemoryBytes = options.maxMemoryBytes ?? WASM32_LIMIT;
  if (typeof maxMemoryBytes !== 'number')
    throw new TypeError(`maxMemoryBytes must be a number of bytes; got ${JSON.stringify(maxMemoryBytes)}`);
  if (!(maxMemoryBytes > 0)) throw new RangeError(`maxMemoryBytes must be a positive number; got ${maxMemoryBytes}`);
  const auto = options.webgpuAuto ?? {};
  checkOptions(auto, 'webgpuAuto', ['margin', 'allowFallbackAdapter']);
  const margin = auto.margin ?? COST.margin;
  if (typeof margin !== 'number' || !(margin >= 0) || !Number.isFinite(margin))
    throw new RangeError(`webgpuAuto.margin must be a finite number ≥ 0; got ${String(margin)}`);
  const allowFallbackAdapter = auto.allowFallbackAdapter ?? false;
  if (typeof allowFallbackAdapter !== 'boolean')
    throw new TypeError(`webgpuAuto.allowFallbackAdapter must be a boolean; got ${String(allowFallbackAdapter)}`);
  return {
    backend,
    device,
    wasmBuild,
    workers,
    threads,
    maxMemoryBytes: Math.min(maxMemoryBytes, WASM32_LIMIT),
    margin,
    allowFallbackAdapter,
  };
}

export type ParsedEngineOptions = ReturnType<typeof parseEngineOptions>;

/**
 * The WebGPU side of an engine: for 'webgpu' an adapter and a device now (or a rejection saying
 * why not); for 'auto' an adapter probe, the device being requested by the first call that the
 * cost model sends to the GPU. Returns the runtime (if any) and what to report.
 */
export async function startWebGpu(
  opts: ParsedEngineOptions,
  hasGpu: boolean,
  notes: string[],
  internals: EngineInternals,
): Promise<{ runtime?: GpuRuntime; report: EngineInfo['webgpu']; lib?: WebGpuBackend }> {
  if (opts.backend === 'webgpu') {
    const lib = await loadWebGpu();
    const runtime = opts.device
      ? await lib.GpuRuntime.onDevice(opts.device, internals.gpu)
      : await lib.GpuRuntime.create(internals.gpu);
    notes.push(
      opts.device
        ? 'backend "webgpu" on the caller\'s device: sync calls with GPU-buffer inputs run on it, ' +
            'with host arrays on wasm'
        : 'backend "webgpu": the sync methods run on wasm (their results say so)',
    );
    return { runtime, report: { ...runtime.report }, lib };
  }
  if (opts.backend !== 'auto' || !hasGpu) return { report: null };
  const got = await (await loadAdapterProbe()).requestAdapter();
  if ('reason' in got) {
    notes.push(`auto: ${got.reason}; every call runs on wasm`);
    return { report: null };
  }
  if (got.report.isFallbackAdapter && !opts.allowFallbackAdapter) {
    notes.push(
      `auto: the WebGPU adapter (${got.report.description || got.report.architecture || got.report.vendor}) is a ` +
        `fallback/software adapter, slower than wasm; every call runs on wasm`,
    );
    return { report: { ...got.report } };
  }
  notes.push(
    `auto: a patchContrast, infoNCE or cflObjective call runs on WebGPU when ${opts.margin} × its estimated GPU ` +
      `time (transfers included) is below its estimated wasm time; crossEntropy and the sync methods run on wasm`,
  );
  const lib = await loadWebGpu();
  return {
    runtime: lib.GpuRuntime.fromAdapter(got.adapter, got.report, internals.gpu),
    report: { ...got.report },
    lib,
  };
}
