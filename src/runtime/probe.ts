// One-time feature detection: what this runtime offers the engine.

// The smallest modules that use a SIMD opcode (f32x4.splat) and a relaxed-SIMD one
// (f32x4.relaxed_madd): WebAssembly.validate says whether the engine accepts each.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 47, 1, 45, 0, 65, 0, 253, 15, 253, 12, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 133, 2, 11,
]);

export interface RuntimeFeatures {
  simd: boolean;
  relaxedSimd: boolean;
  workers: boolean;
  crossOriginIsolated: boolean;
  webgpu: boolean;
}

let cached: RuntimeFeatures | undefined;

export function probeFeatures(): RuntimeFeatures {
  if (cached) return cached;
  const g = globalThis as Record<string, unknown>;
  const nav = g.navigator as { gpu?: unknown } | undefined;
  const isNode = typeof (g.process as { versions?: { node?: string } } | undefined)?.versions?.node === 'string';
  cached = {
    simd: safeValidate(SIMD_PROBE),
    relaxedSimd: safeValidate(RELAXED_PROBE),
    workers: typeof g.Worker === 'function' || isNode,
    crossOriginIsolated: g.crossOriginIsolated === true,
    webgpu: nav?.gpu !== undefined && nav.gpu !== null,
  };
  return cached;
}

function safeValidate(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}
