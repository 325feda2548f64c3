// Entry for runtimes that forbid compiling wasm from bytes (Cloudflare workerd, Vercel edge-light):
// the builds are imported as WebAssembly.Module values, which those bundlers provide.

import relaxedModule from './kernels.relaxed.wasm';
import simdModule from './kernels.simd.wasm';
import { makeApi } from './engine.js';
import { sourceFromModules } from './runtime/source.js';
import { NO_WORKERS } from './runtime/executors/spawn.js';
import type { PackageApi } from './types.js';

export type * from './types.js';

// These imports stay external in the bundle (dist/ holds the files beside it); the edge runtimes'
// bundlers turn a .wasm import into a compiled module, not the bytes that src/wasm.d.ts declares.
const asModule = (m: unknown) => m as WebAssembly.Module;
// No workers: threads > 1 run in the calling thread, and info.notes says so.
const api: PackageApi = makeApi(sourceFromModules(asModule(simdModule), asModule(relaxedModule)), NO_WORKERS);

export const createEngine: PackageApi['createEngine'] = api.createEngine;
export const crossEntropy: PackageApi['crossEntropy'] = api.crossEntropy;
export const patchContrast: PackageApi['patchContrast'] = api.patchContrast;
export const infoNCE: PackageApi['infoNCE'] = api.infoNCE;
export const cflObjective: PackageApi['cflObjective'] = api.cflObjective;
export const drawInfoNCESample: PackageApi['drawInfoNCESample'] = api.drawInfoNCESample;
