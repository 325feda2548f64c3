// The engine under test: the built package (dist/), with the wasm build chosen by the
// FORGERY_WASM_BUILD environment variable ('simd' by default, 'relaxed-simd' in the relaxed run).
import * as pkg from '../../dist/index.js';
import { mulberry32 } from '../fuzz/materialize.mjs';

export const WASM_BUILD = process.env.FORGERY_WASM_BUILD ?? 'simd';
export { pkg };

let shared;
/** One engine shared by a test file (threads from FORGERY_THREADS, default 1). */
export function engine() {
  shared ??= pkg.createEngine({ wasmBuild: WASM_BUILD, threads: Number(process.env.FORGERY_THREADS ?? 1) });
  return shared;
}

export const LOSS_FN = {
  cross_entropy: 'crossEntropy',
  patch_contrast: 'patchContrast',
  info_nce: 'infoNCE',
  cfl_objective: 'cflObjective',
};

/** A seeded uniform generator in [0, 1) (mulberry32), for reproducible random inputs. */
export const rng = mulberry32;

/** Standard normal samples (Box–Muller) as a Float32Array. */
export function gaussian(n, seed, scale = 1) {
  const r = rng(seed),
    out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12),
      v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * scale;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** A (B, 1, H, W) mask with an elliptical forged blob per image (values exactly 0 or 1). */
export function blobMask(b, h, w, seed = 1) {
  const r = rng(seed),
    m = new Float32Array(b * h * w);
  for (let i = 0; i < b; i++) {
    const cy = h * (0.3 + 0.4 * r()),
      cx = w * (0.3 + 0.4 * r()),
      ry = h * (0.15 + 0.2 * r()),
      rx = w * (0.15 + 0.2 * r());
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) m[(i * h + y) * w + x] = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1 ? 1 : 0;
  }
  return m;
}
