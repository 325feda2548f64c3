// Deno, forgery-losses/tfjs on TF.js 4.22's webgpu backend (navigator.gpu over Mesa's lavapipe):
// the installed package's exports, bare imports resolved from the project's node_modules. The
// suite (tfjs-webgpu.mjs and its tally.mjs, copied from the repository's tests/runtime) trains a
// step of every loss and counts read-backs.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import * as layers from '@tensorflow/tfjs-layers';
import * as pkg from 'forgery-losses';
import * as fl from 'forgery-losses/tfjs';
import { runTfjsWebGpuSuite } from '../shared/tfjs-webgpu.mjs';

console.log(JSON.stringify(await runTfjsWebGpuSuite({ tf, layers, fl, pkg })));
Deno.exit(0);
