// Runs the TF.js-on-webgpu suite (tfjs-webgpu.mjs) under Deno and prints one line of JSON for
// tests/tfjs-webgpu.test.mjs. Optional arguments name other builds of forgery-losses/tfjs and of
// the package (the default: dist/ of this checkout).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import * as layers from '@tensorflow/tfjs-layers';
import { runTfjsWebGpuSuite } from './tfjs-webgpu.mjs';

const [flPath = '../../dist/tfjs.js', pkgPath = '../../dist/index.js'] = globalThis.Deno?.args ?? [];
const result = await runTfjsWebGpuSuite({ tf, layers, fl: await import(flPath), pkg: await import(pkgPath) });
console.log(JSON.stringify(result));
globalThis.Deno?.exit(0);
