// What a loss on TF.js's webgpu backend moves and costs the CPU per training step (docs/tfjs.md,
// "On the GPU"). Runs under Deno (navigator.gpu; here Mesa's lavapipe, a CPU, so GPU compute times
// say nothing about a GPU). For each loss, at B 4, C 32, 64×64 (features NHWC from a conv net):
//   bytes      uploaded (writeBuffer, mapped uploads) and read back (mapAsync) by the engine's call,
//              and during the whole step (TF.js's own uniforms included), against the host path's
//              download of the features and upload of the gradient (what the op did on a GPU
//              backend before: 2 × B·C·H·W·4 bytes);
//   encode     median ms of the engine's sync call on GPU buffers, without the time inside
//              queue.submit(): checking, CPU labels and index lists, recording. Lavapipe runs the
//              GPU work inside submit() on these same 2 cores (reported apart, as `submit`), so
//              each sample starts on an idle queue, and a loop of back-to-back calls
//              (benchmark.js) would time the software GPU instead.
//   npm run build && deno run -A bench/tfjs-webgpu.mjs [--markdown FILE]
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import '@tensorflow/tfjs-layers';
import * as fl from '../dist/tfjs.js';

const B = 4,
  C = 32,
  H = 64,
  W = 64;
const markdown = Deno.args.includes('--markdown') ? Deno.args[Deno.args.indexOf('--markdown') + 1] : undefined;
await tf.setBackend('webgpu');
const engine = await fl.ready();
const device = tf.backend().device;

const mask = new Float32Array(B * H * W).map((_, i) =>
  ((i % W) - 20) ** 2 + ((((i / W) | 0) % H) - 30) ** 2 < 300 ? 1 : 0,
);
const target = Int32Array.from(mask);
const w1 = tf.variable(tf.randomNormal([3, 3, 3, C], 0, 0.3, 'float32', 1));
const w2 = tf.variable(tf.randomNormal([3, 3, C, C], 0, 0.1, 'float32', 2));
const x = tf.randomUniform([B, H, W, 3], 0, 1, 'float32', 3);
const features = () => tf.conv2d(tf.tanh(tf.conv2d(x, w1, 1, 'same')), w2, 1, 'same');
const optimizer = tf.train.sgd(0.01);

const LOSSES = {
  'patchContrast exact': (f) => fl.patchContrast(f, mask, { dataFormat: 'channelsLast' }),
  'infoNCE mean-logit, 500 per class': (f) =>
    fl.infoNCE(f, mask, { dataFormat: 'channelsLast', sample: { maxPerClass: 500, seed: 1 } }),
  'infoNCE mean-exp, 500 per class': (f) =>
    fl.infoNCE(f, mask, { dataFormat: 'channelsLast', positive: 'mean-exp', sample: { maxPerClass: 500, seed: 1 } }),
  'crossEntropy, 32 classes': (f) => fl.crossEntropy(f, target, { dataFormat: 'channelsLast' }),
};

/** Bytes written to and read from the GPU while `fn` runs. */
function bytesMoved(fn) {
  const queue = device.queue;
  const write = queue.writeBuffer;
  const map = GPUBuffer.prototype.mapAsync;
  const create = device.createBuffer;
  const moved = { up: 0, down: 0 };
  // writeBuffer counts dataOffset and size in elements of a typed array, in bytes of an ArrayBuffer.
  queue.writeBuffer = function (...args) {
    const [, , data, dataOffset = 0, size] = args;
    const unit = ArrayBuffer.isView(data) ? data.BYTES_PER_ELEMENT : 1;
    moved.up += (size ?? (ArrayBuffer.isView(data) ? data.length : data.byteLength) - dataOffset) * unit;
    return write.apply(this, args);
  };
  GPUBuffer.prototype.mapAsync = function (...args) {
    moved.down += args[2] ?? this.size;
    return map.apply(this, args);
  };
  device.createBuffer = function (...args) {
    if (args[0].mappedAtCreation) moved.up += args[0].size;
    return create.apply(this, args);
  };
  try {
    fn();
  } finally {
    queue.writeBuffer = write;
    GPUBuffer.prototype.mapAsync = map;
    device.createBuffer = create;
  }
  return moved;
}

/** Median ms of `fn` over 21 samples, each on an idle queue: outside and inside queue.submit(). */
async function median(fn) {
  const queue = device.queue;
  const submit = queue.submit;
  let inSubmit = 0;
  queue.submit = function (...args) {
    const t0 = performance.now();
    try {
      return submit.apply(this, args);
    } finally {
      inSubmit += performance.now() - t0;
    }
  };
  const samples = [];
  try {
    for (let i = 0; i < 21; i++) {
      await queue.onSubmittedWorkDone();
      inSubmit = 0;
      const t0 = performance.now();
      fn();
      const total = performance.now() - t0;
      samples.push([total - inSubmit, inSubmit]);
    }
  } finally {
    queue.submit = submit;
  }
  const mid = (k) => samples.map((x) => x[k]).sort((a, b) => a - b)[10];
  return { encode: mid(0), submit: mid(1) };
}

const rows = [];
const hostBytes = 2 * B * C * H * W * 4;
for (const [name, loss] of Object.entries(LOSSES)) {
  const step = () => optimizer.minimize(() => loss(features()));
  step(); // TF.js compiles its shaders
  await tf.backend().device.queue.onSubmittedWorkDone();
  const moved = bytesMoved(step);
  const f = features();
  const nchw = tf.transpose(f, [0, 3, 1, 2]);
  const { buffer } = nchw.dataToGPU();
  const sync = name.startsWith('patch')
    ? () => engine.patchContrastSync({ features: { buffer }, mask, shape: [B, C, H, W] })
    : name.startsWith('infoNCE')
      ? () =>
          engine.infoNCESync({
            features: { buffer },
            mask,
            shape: [B, C, H, W],
            positive: name.includes('exp') ? 'mean-exp' : 'mean-logit',
            sample: { maxPerClass: 500, seed: 1 },
          })
      : () => engine.crossEntropySync({ logits: { buffer }, target, shape: [B, C, H, W] });
  const call = bytesMoved(sync);
  const encode = await median(sync);
  await device.queue.onSubmittedWorkDone();
  tf.dispose([f, nchw]);
  rows.push({ loss: name, call, step: moved, hostPath: hostBytes, ms: encode });
  console.log(JSON.stringify(rows.at(-1)));
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const table = [
  `| loss (B ${B}, C ${C}, ${H}×${W}) | engine call: up / read back | whole step: up / read back | host path (features down + gradient up) | engine call: encode | in submit() (lavapipe's GPU work) |`,
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.loss} | ${kib(r.call.up)} / ${r.call.down} B | ${kib(r.step.up)} / ${r.step.down} B | ${kib(r.hostPath)} | ${r.ms ? `${r.ms.encode.toFixed(2)} ms` : '—'} | ${r.ms ? `${r.ms.submit.toFixed(1)} ms` : '—'} |`,
  ),
].join('\n');
console.log(table);
if (markdown) Deno.writeTextFileSync(markdown, `${table}\n`);
Deno.exit(0);
