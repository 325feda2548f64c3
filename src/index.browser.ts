// Browser entry (the `browser` condition: bundlers and CDNs that build for browsers): no node:
// import anywhere in its module graph, each wasm build a module imported when first used, and
// workers started from the worker's inlined script (runtime/spawn-web.ts), so that a bundler has
// no file to find or emit and its minifier never touches the worker.

import { makeApi } from './engine.js';
import { sourceFromChunks } from './runtime/source.js';
import { webPlatform } from './runtime/executors/spawn-web.js';
import type { PackageApi } from './types.js';

export type * from './types.js';

const api: PackageApi = makeApi(sourceFromChunks(), webPlatform);

export const createEngine: PackageApi['createEngine'] = api.createEngine;
export const crossEntropy: PackageApi['crossEntropy'] = api.crossEntropy;
export const patchContrast: PackageApi['patchContrast'] = api.patchContrast;
export const infoNCE: PackageApi['infoNCE'] = api.infoNCE;
export const cflObjective: PackageApi['cflObjective'] = api.cflObjective;
export const drawInfoNCESample: PackageApi['drawInfoNCESample'] = api.drawInfoNCESample;
