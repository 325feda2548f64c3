// Registers TF.js's gradient functions under Node, where only @tensorflow/tfjs-core is installed.
//
// tfjs-core's Node bundle (tf-core.node.js) registers no gradient functions;
// the union package @tensorflow/tfjs normally brings them in. Only
// tfjs-core is installed here, and its register_all_gradients.js exists only
// as ES modules with extensionless relative imports inside a package that is
// not "type": "module", which Node cannot load as is. A small loader hook
// fixes exactly that for files under tfjs-core/dist. The copy of core code it
// loads shares the engine and the kernel/gradient registries with the main
// bundle, because tfjs-core keeps those on globalThis (designed for several
// copies of the library in one page).
//
// Used by bench/baselines/tfjs-losses.mjs, tests/tfjs.test.mjs and the examples.

import { createRequire, register } from 'node:module';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const coreDist = pathToFileURL(`${dirname(require.resolve('@tensorflow/tfjs-core'))}/`).href;

const loaderHooks = `
let dist;
export function initialize(data) { dist = data.dist; }
export async function resolve(specifier, context, next) {
  const fromCoreEsm = context.parentURL !== undefined && context.parentURL.startsWith(dist);
  if (fromCoreEsm && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    try { return await next(specifier + '.js', context); }
    catch { return next(specifier + '/index.js', context); }
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  // Everything under dist/ except the CommonJS bundles (tf-core*.js) is ESM.
  if (url.startsWith(dist) && !url.slice(dist.length).startsWith('tf-core')) {
    return next(url, { ...context, format: 'module' });
  }
  return next(url, context);
}`;

let gradientsLoaded = null;

/** Registers every gradient of tfjs-core (once per process); await it before tf.grad / tf.variableGrads. */
export function registerTfjsGradients() {
  if (!gradientsLoaded) {
    register(`data:text/javascript,${encodeURIComponent(loaderHooks)}`, { data: { dist: coreDist } });
    gradientsLoaded = import(`${coreDist}register_all_gradients.js`);
  }
  return gradientsLoaded;
}
