// Checks the comparison implementations used by the benchmark:
//  1. bench/baselines/tfjs-losses.mjs against golden cases (float32 tolerances of
//     docs/spec.md §8: loss |a-e| <= 1e-4*max(1,|e|), gradient
//     max|a-e| <= 1e-3*max|e|);
//  2. if Debian's python3-torch is installed, bench/baselines/torch_losses.py against
//     TF.js on the small versions of the benchmark cases (loss within 1e-4
//     relative, gradient as above).
// Prints PASS/FAIL per case and exits non-zero on any failure.
//
//   node bench/check-comparisons.mjs            (golden dir: $FORGERY_GOLDEN, else tests/fixtures)

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CASE_NAMES, makeCase, writeCaseBinaries } from '../support/cases.mjs';
import { ceTF, infoNCETF, initTF, patchContrastTF, runCaseTF } from './baselines/tfjs-losses.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

const GOLDEN_CASES = [
  // the cases named in the task
  'cross_entropy/index_c2_cflweight_mean.json',
  'patch_contrast/basic_b2_c6_12x12_p4__exact.json',
  'patch_contrast/basic_b2_c6_12x12_p4__cflnet.json',
  'info_nce/basic_b2_c8_8x8__mean-logit.json',
  'info_nce/basic_b2_c8_8x8__mean-exp.json',
  'info_nce/sampled_indices_b2_16x16__mean-logit.json',
  // a few edge cases that the benchmark inputs do not exercise
  'cross_entropy/ignore255_weight_mean.json',
  'patch_contrast/b3_mixed__cflnet.json',
  'patch_contrast/b3_mixed__exact.json',
  'patch_contrast/nonsquare_8x20_p4__exact.json',
  'info_nce/sampled_indices_b2_16x16__mean-exp.json',
  'info_nce/fractional_mask_values__mean-logit.json',
  'info_nce/all_forged_image_skipped__mean-exp.json',
  'info_nce/no_usable_image__mean-logit.json',
];

function findGoldenDir() {
  const candidates = [process.env.FORGERY_GOLDEN, resolve(HERE, '../tests/fixtures')].filter(Boolean);
  const found = candidates.find((dir) => existsSync(join(dir, 'INDEX.md')));
  if (!found) throw new Error(`golden directory not found; tried ${candidates.join(', ')} (set FORGERY_GOLDEN)`);
  return found;
}

// ---------------------------------------------------------------------------
// Comparisons (docs/spec.md §8, float32 row)

const LOSS_RTOL = 1e-4;
const GRAD_RTOL = 1e-3;
const NOISE_ATOL = 1e-4;

const toNumber = (v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);

/** Returns an error string, or null when the loss agrees. */
function compareLoss(actual, expected) {
  if (Number.isNaN(expected) && Number.isNaN(actual)) return null;
  const err = Math.abs(actual - expected);
  return err <= LOSS_RTOL * Math.max(1, Math.abs(expected))
    ? null
    : `loss ${actual} vs ${expected} (|diff| ${err.toExponential(2)})`;
}

/** Returns [error string or null, max|a-e| / max|e|]. */
function compareGrad(actual, expected, isNoise = false) {
  if (actual.length !== expected.length) return [`gradient length ${actual.length} vs ${expected.length}`, NaN];
  let maxExpected = 0;
  let maxDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
  }
  // Rounding-noise gradients and the epsilon-driven cflnet ones are compared absolutely.
  const tol = isNoise || maxExpected < 1e-9 ? NOISE_ATOL : GRAD_RTOL * maxExpected;
  const error =
    maxDiff <= tol
      ? null
      : `gradient max|diff| ${maxDiff.toExponential(2)} > ${tol.toExponential(2)} (max|e| ${maxExpected.toExponential(2)})`;
  return [error, maxExpected > 0 ? maxDiff / maxExpected : maxDiff];
}

const results = [];
function report(name, errors, detail) {
  const failed = errors.filter(Boolean);
  results.push(failed.length === 0);
  console.log(
    `${failed.length === 0 ? 'PASS' : 'FAIL'}  ${name}  ${detail}${failed.length ? `\n      ${failed.join('\n      ')}` : ''}`,
  );
}

// ---------------------------------------------------------------------------
// 1. TF.js against golden files

function runGolden(golden) {
  const { loss, options: o, shapes, inputs } = golden;
  if (loss === 'cross_entropy') {
    if (o.target_kind !== 'index' || o.reduction !== 'mean' || o.label_smoothing !== 0) {
      throw new Error('ceTF covers index targets, reduction "mean", no label smoothing');
    }
    return ceTF({
      logits: Float32Array.from(inputs.logits),
      target: Int32Array.from(inputs.target),
      shape: shapes.logits,
      weight: o.weight ?? undefined,
      ignoreIndex: o.ignore_index,
    });
  }
  const common = {
    features: Float32Array.from(inputs.features),
    mask: Float32Array.from(inputs.mask),
    shape: shapes.features,
    temperature: o.temperature,
  };
  if (loss === 'patch_contrast')
    return patchContrastTF({ ...common, patchSize: o.patch_size, variant: golden.variant });
  if (loss === 'info_nce') {
    const sample =
      o.sampling === 'indices' ? { pristine: inputs.sample_pristine, forged: inputs.sample_forged } : undefined;
    return infoNCETF({ ...common, positive: golden.variant, sample });
  }
  throw new Error(`no TF.js implementation for ${loss}`);
}

function checkGolden(goldenDir) {
  console.log(`TF.js-wasm vs golden (${goldenDir})`);
  for (const rel of GOLDEN_CASES) {
    const golden = JSON.parse(readFileSync(join(goldenDir, rel), 'utf8'));
    const wrt = golden.gradient_wrt[0];
    const expectedLoss = toNumber(golden.expected.loss);
    try {
      const { loss, grad } = runGolden(golden);
      const [gradError, gradRel] = compareGrad(grad, golden.expected.grad[wrt], golden.gradient_is_rounding_noise);
      report(
        rel,
        [compareLoss(loss, expectedLoss), gradError],
        `loss ${loss.toPrecision(8)} (golden ${Number(expectedLoss).toPrecision(8)}), grad max|diff|/max|e| ${gradRel.toExponential(1)}`,
      );
    } catch (err) {
      report(rel, [err.stack], '');
    }
  }
}

// ---------------------------------------------------------------------------
// 2. PyTorch against TF.js on the small benchmark cases

function torchAvailable() {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function checkTorch() {
  if (!torchAvailable()) {
    console.log('\nPyTorch not installed (apt-get install python3-torch): skipping the torch comparison');
    return;
  }
  console.log('\nPyTorch vs TF.js-wasm (small benchmark cases)');
  const work = mkdtempSync(join(tmpdir(), 'forgery-bench-check-'));
  try {
    for (const name of CASE_NAMES) {
      const caseObj = makeCase(name, { small: true });
      const caseDir = join(work, name);
      writeCaseBinaries(caseObj, caseDir);
      const gradDir = join(caseDir, 'torch-grads');
      const run = spawnSync(
        PYTHON,
        [join(HERE, 'baselines', 'torch_losses.py'), caseDir, '--runs', '0', '--grad-out', gradDir],
        {
          encoding: 'utf8',
        },
      );
      if (run.status !== 0) {
        report(`${name} (torch)`, [`torch_losses.py failed:\n${run.stderr}`], '');
        continue;
      }
      const lines = run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      for (const { variant, loss: torchLoss } of lines) {
        const tfResult = runCaseTF(caseObj, variant);
        const buf = readFileSync(join(gradDir, `${variant}.grad.bin`));
        const torchGrad = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
        const rel = Math.abs(torchLoss - tfResult.loss) / Math.abs(tfResult.loss);
        const [gradError, gradRel] = compareGrad(torchGrad, tfResult.grad);
        report(
          `${name} ${variant}`,
          [
            rel <= LOSS_RTOL ? null : `loss torch ${torchLoss} vs TF.js ${tfResult.loss} (rel ${rel.toExponential(2)})`,
            gradError,
          ],
          `torch ${torchLoss.toPrecision(8)}  TF.js ${tfResult.loss.toPrecision(8)}  loss rel ${rel.toExponential(1)}, grad max|diff|/max ${gradRel.toExponential(1)}`,
        );
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------

console.log(`backend: ${await initTF()}`);
checkGolden(findGoldenDir());
checkTorch();
const failures = results.filter((ok) => !ok).length;
console.log(`\n${results.length - failures}/${results.length} passed`);
process.exit(failures === 0 ? 0 : 1);
