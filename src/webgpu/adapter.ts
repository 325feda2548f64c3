// The adapter probe, in a module of its own: backend 'auto' asks for an adapter on every runtime
// with navigator.gpu, and loads the device, the executor and the shaders (webgpu/backend.ts) only
// when that adapter may be used.

import type { WebGpuAdapterInfo } from '../types.js';

/** What the engine reports about the adapter (EngineInfo.webgpu). */
export type AdapterReport = WebGpuAdapterInfo;

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic render|warp/i;

/** What the engine reports of an adapter's (or a device's) info and limits. */
export function reportOf(
  adapterInfo: Partial<GPUAdapterInfo> | undefined,
  limits: GPUSupportedLimits,
  flagged = false,
): AdapterReport {
  const info = (adapterInfo ?? {}) as Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean };
  const vendor = String(info.vendor ?? ''),
    architecture = String(info.architecture ?? ''),
    description = String(info.description ?? '');
  return {
    vendor,
    architecture,
    description,
    isFallbackAdapter:
      flagged || info.isFallbackAdapter === true || SOFTWARE.test(`${vendor} ${architecture} ${description}`),
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
  };
}

function report(adapter: GPUAdapter): AdapterReport {
  const flagged = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  return reportOf(adapter.info, adapter.limits, flagged);
}

function gpuOf(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? undefined;
}

/** The adapter of this runtime, or why there is none. */
export async function requestAdapter(): Promise<{ adapter: GPUAdapter; report: AdapterReport } | { reason: string }> {
  const gpu = gpuOf();
  if (!gpu) return { reason: 'this runtime has no navigator.gpu (WebGPU is not exposed here)' };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { reason: `navigator.gpu.requestAdapter() failed: ${(error as Error).message}` };
  }
  if (!adapter)
    return {
      reason:
        'navigator.gpu.requestAdapter() returned null (no usable GPU adapter; in Chromium, WebGPU may need ' +
        '--enable-unsafe-webgpu or a supported GPU)',
    };
  return { adapter, report: report(adapter) };
}
