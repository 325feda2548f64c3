// Default entry (Node, Deno, Bun, and a page that imports dist/index.js as is): each wasm build is a
// module of its own, imported when first used; workers run dist/worker.js from beside this file.

import { makeApi } from './engine.js';
import { sourceFromChunks } from './runtime/source.js';
import { nodePlatform } from './runtime/executors/spawn-node.js';
import type { PackageApi } from './types.js';

export type * from './types.js';

// The worker receives the compiled module by message.
const api: PackageApi = makeApi(sourceFromChunks(), nodePlatform(new URL('./worker.js', import.meta.url)));

export const createEngine: PackageApi['createEngine'] = api.createEngine;
export const crossEntropy: PackageApi['crossEntropy'] = api.crossEntropy;
export const patchContrast: PackageApi['patchContrast'] = api.patchContrast;
export const infoNCE: PackageApi['infoNCE'] = api.infoNCE;
export const cflObjective: PackageApi['cflObjective'] = api.cflObjective;
export const drawInfoNCESample: PackageApi['drawInfoNCESample'] = api.drawInfoNCESample;
