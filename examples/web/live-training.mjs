// The demo's training panel: examples/train's feature extractor trained in the page on synthetic
// forgeries, one infoNCE step per optimizer.minimize, with the sync op of forgery-losses/tfjs, on
// the best TF.js backend the browser has (webgpu, else webgl, wasm, cpu; a software WebGPU
// adapter only with ?software-webgpu). It plots the loss, shows a held-out image's predicted mask
// (2-means of its features, as FOCAL localizes) as it goes, and says which backend ran and
// whether the loss stayed on the GPU: the read-backs made inside the training steps are counted.
// Bundled with its TF.js by examples/web/serve.mjs (build/live-training.js); ?train-steps=N caps
// the run. For tests, the panel's state is window.__training.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { infoNCE, ready } from '../../dist/tfjs.browser.js';
import { makeBatch, rng } from '../train/data.mjs';
import { iou, twoMeans } from '../train/kmeans.mjs';
import { createModel } from '../train/model.mjs';

setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
const params = new URLSearchParams(location.search);
const CONFIG = {
  size: 64,
  batch: 4,
  dim: 16,
  steps: Number(params.get('train-steps') ?? 300),
  learningRate: 5e-3,
  temperature: 0.1,
  maxPerClass: 512,
  evalEvery: 10,
  heldOut: 4,
};
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic render|warp/i;

/** What the panel shows, for tests. */
const training = {
  state: 'idle',
  backend: null,
  skipped: [],
  gpuResident: false,
  steps: 0,
  losses: [],
  readBacksInSteps: 0,
  iou: [],
  error: null,
};
window.__training = training;

const $ = (id) => document.getElementById(id);
const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The first TF.js backend that starts, best first; why the better ones did not. */
async function pickBackend() {
  for (const name of ['webgpu', 'webgl', 'wasm', 'cpu']) {
    if (name === 'webgpu') {
      const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
      if (!adapter) {
        training.skipped.push('webgpu: no adapter');
        continue;
      }
      const info = adapter.info ?? {};
      const soft =
        adapter.isFallbackAdapter || SOFTWARE.test(`${info.vendor} ${info.architecture} ${info.description}`);
      if (soft && !params.has('software-webgpu')) {
        training.skipped.push('webgpu: a software adapter, slower than the others (?software-webgpu uses it)');
        continue;
      }
    }
    const started = await tf.setBackend(name).catch(() => false);
    if (started) return name;
    training.skipped.push(`${name}: did not start`);
  }
  throw new Error(`no TF.js backend started: ${training.skipped.join('; ')}`);
}

/** Counts read-backs: mapAsync on any GPU buffer, and the TF.js backend's read/readSync. */
function readCounter() {
  const counter = { n: 0 };
  const wrap = (target, name) => {
    const original = target?.[name];
    if (typeof original !== 'function') return;
    target[name] = function (...args) {
      counter.n++;
      return original.apply(this, args);
    };
  };
  wrap(globalThis.GPUBuffer?.prototype, 'mapAsync');
  wrap(tf.backend(), 'read');
  wrap(tf.backend(), 'readSync');
  return counter;
}

// ---------------------------------------------------------------- drawing

function drawImage(canvas, rgb, size) {
  const image = new ImageData(size, size);
  const hw = size * size;
  for (let i = 0; i < hw; i++) image.data.set([rgb[i] * 255, rgb[hw + i] * 255, rgb[2 * hw + i] * 255, 255], 4 * i);
  const small = document.createElement('canvas');
  small.width = small.height = size;
  small.getContext('2d').putImageData(image, 0, 0);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

const grey = (mask) => {
  const rgb = new Float32Array(3 * mask.length);
  for (let c = 0; c < 3; c++) rgb.set(mask, c * mask.length);
  return rgb;
};

function drawCurve(canvas, losses) {
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  if (losses.length === 0) return;
  const lo = Math.min(...losses),
    hi = Math.max(...losses);
  const pad = 28;
  const x = (i) => pad + ((w - 2 * pad) * i) / Math.max(1, losses.length - 1);
  const y = (v) => h - pad - ((h - 2 * pad) * (v - lo)) / Math.max(hi - lo, 1e-9);
  ctx.strokeStyle = '#e1e5ea';
  ctx.strokeRect(pad, pad, w - 2 * pad, h - 2 * pad);
  ctx.strokeStyle = '#3056d3';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  losses.forEach((v, i) => {
    if (i === 0) ctx.moveTo(x(i), y(v));
    else ctx.lineTo(x(i), y(v));
  });
  ctx.stroke();
  ctx.fillStyle = '#5f6b7a';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(hi.toFixed(3), 2, pad + 4);
  ctx.fillText(lo.toFixed(3), 2, h - pad + 4);
  ctx.fillText(`step ${losses.length}`, w - pad - 50, h - 8);
}

// ---------------------------------------------------------------- training

/** Held-out IoU of 2-means clustering of the features; draws image 0's predicted mask. */
async function evaluate(model, held, step) {
  const { size, dim, heldOut } = CONFIG;
  const hw = size * size;
  const features = tf.tidy(() => model.forward(tf.tensor4d(held.images, [heldOut, 3, size, size])).features);
  const values = await features.data();
  features.dispose();
  let sum = 0;
  for (let i = 0; i < heldOut; i++) {
    const pred = twoMeans(values.subarray(i * dim * hw, (i + 1) * dim * hw), dim, hw);
    sum += iou(pred, held.masks.subarray(i * hw, (i + 1) * hw));
    if (i === 0) drawImage($('train-pred'), grey(Float32Array.from(pred)), size);
  }
  training.iou.push([step, sum / heldOut]);
  $('train-iou').textContent = `held-out IoU ${(sum / heldOut).toFixed(2)} (step ${step})`;
}

function describeResidency(engine) {
  const steps = training.steps;
  if (training.gpuResident)
    return training.readBacksInSteps === 0
      ? `The loss stayed on the GPU: no read-back inside ${steps} training steps (the engine runs on TF.js's WebGPU device; the chart reads each step's loss afterwards).`
      : `${training.readBacksInSteps} read-backs inside ${steps} training steps.`;
  return `TF.js ${training.backend} backend: each step reads the features once for the loss, which runs on ${engine.info.backend} (${training.readBacksInSteps} reads in ${steps} steps).`;
}

async function train() {
  const { size, batch, dim, heldOut } = CONFIG;
  training.state = 'running';
  $('train-button').disabled = true;
  try {
    training.backend = await pickBackend();
    const engine = await ready();
    training.gpuResident = training.backend === 'webgpu' && engine.info.backend === 'webgpu';
    const counter = readCounter();
    const model = createModel(rng(1), { dim });
    const optimizer = tf.train.adam(CONFIG.learningRate);
    const rand = rng(7);
    const held = makeBatch(rng(1_000_003), heldOut, size);
    drawImage($('train-image'), held.images.subarray(0, 3 * size * size), size);
    drawImage($('train-mask'), grey(held.masks.subarray(0, size * size)), size);
    await evaluate(model, held, 0);
    const started = performance.now();
    for (let step = 1; step <= CONFIG.steps; step++) {
      const data = makeBatch(rand, batch, size);
      const images = tf.tensor4d(data.images, [batch, 3, size, size]);
      const before = counter.n;
      const value = optimizer.minimize(
        () =>
          infoNCE(model.forward(images).features, data.masks, {
            temperature: CONFIG.temperature,
            sample: { maxPerClass: CONFIG.maxPerClass, seed: step },
          }),
        true,
        model.trunk,
      );
      training.readBacksInSteps += counter.n - before;
      images.dispose();
      const loss = (await value.data())[0];
      value.dispose();
      training.losses.push(loss);
      training.steps = step;
      drawCurve($('train-curve'), training.losses);
      const ms = (performance.now() - started) / step;
      $('train-status').textContent =
        `TF.js ${training.backend} · step ${step}/${CONFIG.steps} · loss ${loss.toFixed(3)} · ${ms.toFixed(0)} ms/step`;
      $('train-residency').textContent = describeResidency(engine);
      if (step % CONFIG.evalEvery === 0 || step === CONFIG.steps) await evaluate(model, held, step);
      await nextFrame();
    }
    training.state = 'done';
  } catch (error) {
    training.error = error?.message ?? String(error);
    training.state = 'error';
    $('train-status').textContent = `Error: ${training.error}`;
  }
}

$('train-button').addEventListener('click', () => void train());
$('train-status').textContent = `Ready: ${CONFIG.steps} steps of batch ${CONFIG.batch}, ${CONFIG.size}×${CONFIG.size}.`;
training.state = 'ready';
