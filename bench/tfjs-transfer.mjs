// What moving data between TF.js and the engine costs in forgery-losses/tfjs, per backend:
// the read of the inputs (tensor.data()), the engine call (its own copy into wasm memory and the
// gradient's copy out included) and the gradient tensors' creation, for an infoNCE call.
// Also checks which steps copy: on the cpu backend, data() hands out the tensor's own buffer and
// tf.tensor() adopts the array it is given, so the engine's copies are the only ones.
//   npm run build && node bench/tfjs-transfer.mjs
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { createEngine } from '../dist/index.js';
import { mainThreadLosses } from '../dist/tfjs.js';

const engine = await createEngine({ threads: 1 });
const fl = mainThreadLosses(engine);
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const SHAPES = [
  [8, 16, 64, 64],
  [4, 32, 128, 128],
];

for (const backend of ['cpu', 'wasm']) {
  await tf.setBackend(backend);
  await tf.ready();
  // Zero-copy checks: does data() return the same buffer twice, does tf.tensor() keep the array given?
  const given = new Float32Array(4);
  const t = tf.tensor(given, [4]);
  given[0] = 7;
  const adopts = t.dataSync()[0] === 7;
  const first = await t.data(),
    second = await t.data();
  const shares = first === second;
  t.dispose();
  for (const shape of SHAPES) {
    const [b, c, h, w] = shape;
    const n = b * c * h * w;
    const features = tf.randomNormal(shape);
    const mask = tf.tensor3d(
      Float32Array.from({ length: b * h * w }, (_, i) => (i % w > w * 0.7 ? 1 : 0)),
      [b, h, w],
    );
    const rows = { readMs: [], engineMs: [], writeMs: [], memcpyMs: [] };
    const src = new Float32Array(n).fill(1),
      dst = new Float32Array(n).fill(0); // touched: no page faults timed
    for (let i = 0; i < 7; i++) {
      const loss = await fl.infoNCE(features, mask, { sample: { maxPerClass: 256, seed: i } });
      for (const k of ['readMs', 'engineMs', 'writeMs']) rows[k].push(loss.cost[k]);
      loss.dispose();
      const t0 = performance.now();
      dst.set(src);
      rows.memcpyMs.push(performance.now() - t0);
    }
    const mib = (n * 4) / 2 ** 20;
    console.log(
      JSON.stringify({
        backend,
        shape,
        featuresMiB: mib,
        readMs: +median(rows.readMs).toFixed(3),
        engineMs: +median(rows.engineMs).toFixed(2),
        writeMs: +median(rows.writeMs).toFixed(3),
        oneMemcpyMs: +median(rows.memcpyMs).toFixed(3),
        dataIsZeroCopy: shares,
        tensorAdoptsArray: adopts,
      }),
    );
    tf.dispose([features, mask]);
  }
}
await engine.dispose();
