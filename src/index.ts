// Default entry (Node, Deno, Bun, browsers): both wasm builds are inlined as bytes.

import relaxedBytes from '../build/kernels.relaxed.wasm';
import simdBytes from '../build/kernels.simd.wasm';
import { makeApi } from './engine';
import { sourceFromBytes } from './runtime/source';

export type * from './types';

// Workers load dist/worker.js from beside this file; it receives the compiled module by message.
const api = makeApi(sourceFromBytes(simdBytes, relaxedBytes), new URL('./worker.js', import.meta.url));

export const { createEngine, crossEntropy, patchContrast, infoNCE, cflObjective, drawInfoNCESample } = api;
