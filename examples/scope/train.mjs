// npm run example:scope: FOCAL's ablation of the InfoNCE++ scope (its Fig. 4) on a synthetic data
// set built to contain its conflicts (conflicts.mjs: the same texture forged in one image and the
// pristine host of another). The small TF.js feature extractor of examples/train is trained twice
// from the same seed (same initial weights, same batches in the same order, same pixel samples,
// steps and learning rate): with infoNCE scope 'image' (one dictionary per image, the default) and
// scope 'batch' (one dictionary over the batch stacked into one image). Held-out images come from
// the same generator with another seed and are localized by 2-means clustering of the features.
//
// Progress lines go to stdout, the plot to --out (default docs/scope-ablation.png). The last line
// is one JSON object: {"image": {finalLoss, iou, lossJitter}, "batch": {...}, steps, seconds}, with
//   finalLoss  the mean training loss of the last 10 % of the steps,
//   iou        the mean held-out IoU after the last step,
//   lossJitter the mean |loss(t) − loss(t−1)| over the second half of training / the mean loss there.
// The two scopes' losses have different scales (the batch dictionary is B times larger), so compare
// IoU and jitter, not raw losses.
//
// With --seeds N the ablation runs N times: seed k trains from model seed k on its own batches
// (seed 1 is the single run above), both scopes on the same batches; the held-out images stay the
// same. The plot goes to --out (default docs/scope-seeds.png), and the last line is
//   {"seeds": N, "image": {"iou": {mean, sd}, "stepChange": {mean, sd}}, "batch": {...},
//    "iouGap": {mean, ci95: [lo, hi]}, steps, seconds}
// over the seeds (sample sd), with stepChange each run's lossJitter and iouGap the per-seed
// difference IoU(image) − IoU(batch), its mean and two-sided 95 % Student t interval.
//
//   node examples/scope/train.mjs [--seeds N] [--steps K] [--out PATH] [--size S] [--held-out N]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { createEngine } from 'forgery-losses';
import { ready } from 'forgery-losses/tfjs';
import { registerTfjsGradients } from '../../support/tfjs-gradients.mjs';
import { meanCi95, meanSd } from '../stats.mjs';
import { conflictBatch } from './conflicts.mjs';
import { stepChangeRaw } from './metrics.mjs';
import { plotAblation } from './plot.mjs';
import { plotSeeds } from './plot-seeds.mjs';
import { runScope } from './run.mjs';

const flag = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const SEEDS = flag('--seeds') === undefined ? null : Number(flag('--seeds'));
const CONFIG = {
  size: Number(flag('--size') ?? 64), // image side (pixels), a multiple of 8
  batch: 8,
  dim: 16, // feature channels
  steps: Number(flag('--steps') ?? 120),
  evalEvery: 10,
  heldOut: Number(flag('--held-out') ?? 32),
  learningRate: 5e-3,
  temperature: 0.1,
  maxPerImage: 512, // sampled pixels per class and image; scope 'batch' draws batch × this from the stack
  modelSeed: 1, // + k − 1 for seed k
  trainSeed: 20_240_501, // + (k − 1) · 1,000,003 for seed k: the first batch's seed, then one per step
  heldOutSeed: 1_000_003,
};
const defaultPlot = SEEDS === null ? 'scope-ablation.png' : 'scope-seeds.png';
const OUT = resolve(flag('--out') ?? fileURLToPath(new URL(`../../docs/${defaultPlot}`, import.meta.url)));
for (const [name, v] of [
  ['--steps', CONFIG.steps],
  ['--size', CONFIG.size],
  ['--held-out', CONFIG.heldOut],
  ['--seeds', SEEDS ?? 1],
])
  if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} must be a positive integer`);
if (CONFIG.size % 8 !== 0) throw new Error('--size must be a multiple of 8 (JPEG-like blocks)');

const t0 = performance.now();
await registerTfjsGradients(); // tfjs-core's Node bundle registers none
await tf.setBackend('wasm');
await tf.ready();
const engine = await createEngine({ threads: 1 });
await ready({ engine });
const { size, batch, dim, steps } = CONFIG;
const log = (line) => console.log(line);
log(
  `TF.js ${tf.version_core} (${tf.getBackend()} backend), forgery-losses engine ${engine.info.backend}; ${size}x${size} images, batch ${batch}, ${dim} feature channels, ${steps} steps per run${SEEDS === null ? '' : `, ${SEEDS} seeds`}`,
);
const heldOut = conflictBatch(CONFIG.heldOutSeed, CONFIG.heldOut, size);
const context = { config: CONFIG, heldOut, log };

/** Seed k's training batches, generated once and replayed in the same order for both scopes. */
function batchesOf(k) {
  const first = CONFIG.trainSeed + (k - 1) * 1_000_003;
  const batches = Array.from({ length: steps }, (_, s) => conflictBatch(first + s, batch, size));
  const conflicted = batches.filter((b) => b.conflicts > 0).length;
  const meanConflicts = batches.reduce((n, b) => n + b.conflicts, 0) / steps;
  log(
    `${SEEDS === null ? '' : `[seed ${k}] `}training batches: ${conflicted}/${steps} hold a texture that is forged in one image and pristine in another (${meanConflicts.toFixed(2)} such textures per batch)`,
  );
  return batches;
}

/** Both scopes on seed k: the same initial weights, batches and pixel samples. */
async function ablation(k) {
  const batches = batchesOf(k),
    modelSeed = CONFIG.modelSeed + k - 1;
  const tag = (scope) => (SEEDS === null ? scope : `seed ${k}/${SEEDS} ${scope}`);
  const image = await runScope(context, 'image', { modelSeed, batches, tag: tag('image') });
  const batchRun = await runScope(context, 'batch', { modelSeed, batches, tag: tag('batch') });
  return { image, batch: batchRun };
}

const seconds = () => Math.round((performance.now() - t0) / 100) / 10;
mkdirSync(dirname(OUT), { recursive: true });
if (SEEDS === null) {
  const { image, batch: batchRun } = await ablation(1);
  writeFileSync(
    OUT,
    plotAblation([image, batchRun], `infoNCE scope image vs batch - ${steps} steps, batch ${batch}, same seed`),
  );
  log(`wrote ${OUT}`);
  await engine.dispose();
  console.log(JSON.stringify({ image: image.summary, batch: batchRun.summary, steps, seconds: seconds() }));
} else {
  const runs = [];
  for (let k = 1; k <= SEEDS; k++) runs.push(await ablation(k));
  await engine.dispose();
  const over = (scope, pick) => runs.map((r) => pick(r[scope]));
  const stats = (scope) => ({
    iou: meanSd(over(scope, (c) => c.summary.iou)),
    stepChange: meanSd(over(scope, (c) => c.summary.lossJitter)),
  });
  const iouGap = meanCi95(runs.map((r) => r.image.summary.iou - r.batch.summary.iou));
  const fmt = ({ mean, sd }) => `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
  log(`over ${SEEDS} seeds, mean ± sd:`);
  for (const scope of ['image', 'batch'])
    log(
      `  scope ${scope.padEnd(6)} IoU ${fmt(stats(scope).iou)}, stepChange ${fmt(stats(scope).stepChange)}, raw step change ${fmt(meanSd(over(scope, (c) => stepChangeRaw(c.loss))))}, final loss ${fmt(meanSd(over(scope, (c) => c.summary.finalLoss)))}`,
    );
  const interval = iouGap.ci95.map((v) => (v === null ? 'n/a' : v.toFixed(3))).join(', ');
  const gapText = `image − batch ${iouGap.mean >= 0 ? '+' : ''}${iouGap.mean.toFixed(3)}, 95 % t-interval [${interval}]`;
  log(
    `paired IoU gap over seeds: ${gapText}; per seed ${runs.map((r) => (r.image.summary.iou - r.batch.summary.iou).toFixed(3)).join(', ')}`,
  );
  writeFileSync(
    OUT,
    plotSeeds(runs, steps, `infoNCE scope image vs batch - ${SEEDS} seeds, ${steps} steps, batch ${batch}`, iouGap),
  );
  log(`wrote ${OUT}`);
  console.log(
    JSON.stringify({ seeds: SEEDS, image: stats('image'), batch: stats('batch'), iouGap, steps, seconds: seconds() }),
  );
}
