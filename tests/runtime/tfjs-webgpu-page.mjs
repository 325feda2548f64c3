// The TF.js-on-webgpu suite in a page (bundled by tests/tfjs-webgpu.test.mjs with esbuild).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import * as layers from '@tensorflow/tfjs-layers';
import * as pkg from '../../dist/index.browser.js';
import * as fl from '../../dist/tfjs.browser.js';
import { runTfjsWebGpuSuite } from './tfjs-webgpu.mjs';

runTfjsWebGpuSuite({ tf, layers, fl, pkg }).then(
  (r) => {
    window.__result = r;
  },
  (e) => {
    window.__result = { passed: 0, failed: 1, failures: [String(e?.stack ?? e)] };
  },
);
