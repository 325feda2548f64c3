// Entry for runtimes that forbid compiling wasm from bytes (Cloudflare workerd, Vercel edge-light):
// the builds are imported as WebAssembly.Module values, which those bundlers provide.

import relaxedModule from './kernels.relaxed.wasm';
import simdModule from './kernels.simd.wasm';
import { makeApi } from './engine';
import { sourceFromModules } from './runtime/source';

export type * from './types';

// These imports stay external in the bundle (dist/ holds the files beside it); the edge runtimes'
// bundlers turn a .wasm import into a compiled module, not the bytes that src/wasm.d.ts declares.
const asModule = (m: unknown) => m as WebAssembly.Module;
const api = makeApi(sourceFromModules(asModule(simdModule), asModule(relaxedModule)));

export const { createEngine, crossEntropy, patchContrast, infoNCE, cflObjective, drawInfoNCESample } = api;
