// The float64 reference (tests/reference) against every golden case with the float64 tolerances
// of docs/spec.md §8, and its gradients against central finite differences.
// Run: node --test tests/reference.test.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadCases, optionsOf } from './helpers/golden.mjs';
import { assertArrayClose64, assertClose64, assertExact64, assertGradClose64 } from './helpers/tolerance64.mjs';
import { cflObjectiveRef, crossEntropyRef, infoNCERef, patchContrastRef } from './reference/index.mjs';
import { mulberry32 } from './fuzz/materialize.mjs';

const LOSSES = ['cross_entropy', 'patch_contrast', 'info_nce', 'cfl_objective'];

// ---------------------------------------------------------------------------------------------
// Worst errors seen, reported at the end so a regression in accuracy shows before it fails.

const worst = {};
function note(kind, loss, name, value) {
  const key = `${loss} ${kind}`;
  if (!worst[key] || value > worst[key].value) worst[key] = { value, name };
}
const noteGrad = (loss, name, measure) =>
  'absolute' in measure
    ? note('grad (noise, absolute)', loss, name, measure.absolute)
    : note('grad (relative to max)', loss, name, measure.relative);

// ---------------------------------------------------------------------------------------------
// Golden cases: every field the spec lists for each loss.

const GOLDEN = {
  cross_entropy(c) {
    const e = c.expected,
      r = crossEntropyRef(optionsOf(c));
    const lossErr = Array.isArray(e.loss)
      ? assertArrayClose64(r.loss, e.loss, 'loss')
      : assertClose64(r.loss, e.loss, 'loss');
    note('loss', c.loss, c.name, lossErr);
    assertArrayClose64(r.perElementLoss, e.per_element_loss, 'perElementLoss');
    if (e.normalizer === null) assert.equal(r.normalizer, null, 'normalizer');
    else assertClose64(r.normalizer, e.normalizer, 'normalizer');
    noteGrad(
      c.loss,
      c.name,
      assertGradClose64(r.grad, e.grad.logits, 'grad.logits', { noise: c.gradient_is_rounding_noise }),
    );
  },

  patch_contrast(c) {
    const e = c.expected,
      r = patchContrastRef(optionsOf(c));
    note('loss', c.loss, c.name, assertClose64(r.loss, e.loss, 'loss'));
    note(
      'per-item loss',
      c.loss,
      c.name,
      Math.max(
        assertArrayClose64(r.perImageLoss, e.per_image_loss, 'perImageLoss'),
        assertArrayClose64(r.perPatchLoss, e.per_patch_loss, 'perPatchLoss'),
      ),
    );
    assertExact64(r.grid, e.patch_grid, 'grid');
    assertExact64(r.patchLabels, e.patch_labels, 'patchLabels');
    if (c.variant === 'cflnet') assertArrayClose64(r.columnMax, e.column_max, 'columnMax');
    noteGrad(
      `${c.loss}/${c.variant}`,
      c.name,
      assertGradClose64(r.grad, e.grad.features, 'grad.features', { noise: c.gradient_is_rounding_noise }),
    );
  },

  info_nce(c) {
    const e = c.expected,
      r = infoNCERef(optionsOf(c));
    note('loss', c.loss, c.name, assertClose64(r.loss, e.loss, 'loss'));
    assertExact64([r.numUsedImages], [e.num_used_images], 'numUsedImages');
    assertExact64(r.usedImages, e.used_images, 'usedImages');
    assertExact64(r.queryCounts.flat(), e.query_counts.flat(), 'queryCounts');
    let perItem = assertArrayClose64(r.perImageLoss, e.per_image_loss, 'perImageLoss');
    for (const [field, got] of [
      ['per_query_loss', r.perQueryLoss],
      ['per_query_positive_term', r.perQueryPositiveTerm],
    ]) {
      e[field].forEach((want, b) => {
        if (want === null) assert.equal(got[b], null, `${field}[${b}]`);
        else perItem = Math.max(perItem, assertArrayClose64(got[b], want, `${field}[${b}]`));
      });
    }
    note('per-item loss', c.loss, c.name, perItem);
    noteGrad(
      `${c.loss}/${c.variant}`,
      c.name,
      assertGradClose64(r.grad, e.grad.features, 'grad.features', { noise: c.gradient_is_rounding_noise }),
    );
  },

  cfl_objective(c) {
    const e = c.expected,
      r = cflObjectiveRef(optionsOf(c));
    note(
      'loss',
      c.loss,
      c.name,
      Math.max(
        assertClose64(r.loss, e.loss, 'loss'),
        assertClose64(r.ceLoss, e.ce_loss, 'ceLoss'),
        assertClose64(r.contrastLoss, e.contrast_loss, 'contrastLoss'),
      ),
    );
    assertArrayClose64(r.perImageContrastLoss, e.per_image_contrast_loss, 'perImageContrastLoss');
    assertArrayClose64(r.perPatchContrastLoss, e.per_patch_contrast_loss, 'perPatchContrastLoss');
    assertExact64(r.patchLabels, e.patch_labels, 'patchLabels');
    assertExact64(r.ceTarget, e.ce_target, 'ceTarget');
    const noise = c.gradient_is_rounding_noise;
    noteGrad(c.loss, c.name, assertGradClose64(r.gradLogits, e.grad.logits, 'grad.logits', { noise }));
    noteGrad(c.loss, c.name, assertGradClose64(r.gradFeatures, e.grad.features, 'grad.features', { noise }));
  },
};

const casesByLoss = Object.fromEntries(LOSSES.map((loss) => [loss, loadCases(loss)]));

describe('golden cases (float64 tolerances)', () => {
  it('loads every case listed in INDEX.md', () => {
    const index = readFileSync(new URL('./fixtures/INDEX.md', import.meta.url), 'utf8');
    const listed = [...index.matchAll(/^\| `([a-z_]+)\/([^`]+)\.json`/gm)].map((m) => `${m[1]}/${m[2]}`).sort();
    const loaded = LOSSES.flatMap((loss) => casesByLoss[loss].map((c) => `${loss}/${c.name}`)).sort();
    assert.ok(listed.length > 0, 'INDEX.md lists no case');
    assert.deepEqual(loaded, listed);
  });
  for (const loss of LOSSES) {
    describe(loss, () => {
      for (const c of casesByLoss[loss]) it(c.name, () => GOLDEN[loss](c));
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Finite differences: central, float64, step 1e-6, every input coordinate of small random inputs.
// Truncation (h²·f''') and cancellation (1e-16·|L|/h) errors are both around 1e-10 here.

const FD_STEP = 1e-6;
const FD_RTOL = 1e-6,
  FD_ATOL = 1e-8;

function gaussians(n, rand) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** d(lossAt(x))/dx by central differences; x is perturbed in place and restored. */
function centralDifference(lossAt, x) {
  const fd = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const x0 = x[k];
    x[k] = x0 + FD_STEP;
    const up = lossAt(x);
    x[k] = x0 - FD_STEP;
    const down = lossAt(x);
    x[k] = x0;
    fd[k] = (up - down) / (2 * FD_STEP);
  }
  return fd;
}

function assertMatchesFD(what, grad, lossAt, x) {
  const fd = centralDifference(lossAt, x);
  let maxG = 0,
    err = 0;
  for (let k = 0; k < x.length; k++) {
    maxG = Math.max(maxG, Math.abs(grad[k]));
    err = Math.max(err, Math.abs(grad[k] - fd[k]));
  }
  const bound = FD_RTOL * maxG + FD_ATOL;
  assert.ok(
    err <= bound,
    `${what}: |grad − FD| = ${err.toExponential(3)} > ${bound.toExponential(3)} (max |grad| ${maxG.toExponential(3)})`,
  );
  assert.ok(maxG > 1e-6, `${what}: gradient is (nearly) zero, the check would prove nothing`);
  note('FD |grad − FD| / max|grad|', what.split(' ')[0], what, err / maxG);
  return fd;
}

/** (B, 1, H, W) mask whose p×p patches are forged with the given fraction of pixels (0, 1 or between). */
function patchMask(B, H, W, p, forgedFraction) {
  const mask = new Float64Array(B * H * W),
    kw = W / p;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const n = Math.floor(h / p) * kw + Math.floor(w / p),
          inPatch = (h % p) * p + (w % p);
        mask[(b * H + h) * W + w] = inPatch < forgedFraction(b, n) * p * p ? 1 : 0;
      }
    }
  }
  return mask;
}

describe('finite differences of the reference gradients', () => {
  describe('cross_entropy', () => {
    const shape = [2, 3, 2, 3],
      E = 12;
    const rand = mulberry32(11);
    const logits = gaussians(2 * 3 * 6, rand).map((v) => 2 * v);
    const target = Int32Array.from({ length: E }, (_, e) => (e % 5 === 4 ? 255 : e % 3));
    const probs = new Float64Array(logits.length);
    for (let e = 0; e < E; e++) {
      const b = Math.floor(e / 6),
        k = e % 6,
        raw = [rand(), rand(), rand()],
        sum = raw[0] + raw[1] + raw[2];
      for (let c = 0; c < 3; c++) probs[(b * 3 + c) * 6 + k] = raw[c] / sum;
    }
    const variants = {
      'index mean, weight, smoothing, ignore': {
        target,
        weight: [0.3, 1, 1.7],
        ignoreIndex: 255,
        labelSmoothing: 0.1,
        reduction: 'mean',
      },
      'index none (gradient of the sum)': { target, ignoreIndex: 255, reduction: 'none' },
      'probs mean, weight, smoothing': {
        targetProbs: probs,
        weight: [0.2, 0.5, 1.3],
        labelSmoothing: 0.15,
        reduction: 'mean',
      },
      'probs sum': { targetProbs: probs, reduction: 'sum' },
    };
    for (const [name, extra] of Object.entries(variants)) {
      it(name, () => {
        const lossAt = (x) => {
          const { loss } = crossEntropyRef({ logits: x, shape, ...extra });
          return typeof loss === 'number' ? loss : loss.reduce((s, v) => s + v, 0);
        };
        const x = Float64Array.from(logits);
        assertMatchesFD(`cross_entropy ${name}`, crossEntropyRef({ logits: x, shape, ...extra }).grad, lossAt, x);
      });
    }
  });

  describe('patch_contrast', () => {
    // 4×6 pixels, p = 2: a 2×3 patch grid. Image 2 is single-class (only epsilon-driven for cflnet).
    const shape = [3, 3, 4, 6],
      p = 2;
    const forged = [
      [0, 1, 0.75, 0, 0, 0.25],
      [1, 0.75, 0, 1, 0, 0],
      [0, 0, 0, 0, 0, 0],
    ];
    const mask = patchMask(3, 4, 6, p, (b, n) => forged[b][n]);
    for (const [seed, temperature] of [
      [21, 0.1],
      [22, 0.5],
    ]) {
      const features = gaussians(3 * 3 * 4 * 6, mulberry32(seed));
      it(`exact, t=${temperature}`, () => {
        const opts = { mask, shape, patchSize: p, temperature, variant: 'exact' };
        const x = Float64Array.from(features);
        assertMatchesFD(
          `patch_contrast/exact t=${temperature}`,
          patchContrastRef({ ...opts, features: x }).grad,
          (f) => patchContrastRef({ ...opts, features: f }).loss,
          x,
        );
      });
      it(`cflnet, t=${temperature}, column maxima frozen`, () => {
        const opts = { mask, shape, patchSize: p, temperature, variant: 'cflnet' };
        const x = Float64Array.from(features);
        const ref = patchContrastRef({ ...opts, features: x });
        const frozenColumnMax = ref.columnMax;
        assertMatchesFD(
          `patch_contrast/cflnet t=${temperature}`,
          ref.grad,
          (f) => patchContrastRef({ ...opts, features: f, frozenColumnMax }).loss,
          x,
        );
      });
    }
    it('cflnet: the live column maxima do change the derivative (the freeze is not vacuous)', () => {
      const opts = { mask, shape, patchSize: p, temperature: 0.1, variant: 'cflnet' };
      const x = gaussians(3 * 3 * 4 * 6, mulberry32(21));
      const { grad } = patchContrastRef({ ...opts, features: x });
      const fd = centralDifference((f) => patchContrastRef({ ...opts, features: f }).loss, x);
      let diff = 0,
        maxG = 0;
      for (let k = 0; k < x.length; k++) {
        diff = Math.max(diff, Math.abs(grad[k] - fd[k]));
        maxG = Math.max(maxG, Math.abs(grad[k]));
      }
      assert.ok(diff > 1e-3 * maxG, `detached gradient equals the full derivative (diff ${diff.toExponential(2)})`);
    });
  });

  describe('info_nce', () => {
    // 3×4 pixels. Image 0 has a fractional-mask pixel (ignored); image 2 has a single pristine
    // pixel (J = 1, skipped), so its gradient must be zero and FD agrees.
    const shape = [3, 3, 3, 4];
    const mask = Float64Array.from([
      0, 0, 1, 0, 1, 0.5, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1,
    ]);
    const sample = { pristine: [[7, 0, 3, 10], [2, 9], [4]], forged: [[8, 2], [5], [0, 1, 2]] };
    for (const positive of ['mean-logit', 'mean-exp']) {
      for (const [how, extra] of [
        ['all pixels', {}],
        ['sampled lists', { sample }],
      ]) {
        it(`${positive}, ${how}`, () => {
          const opts = { mask, shape, temperature: 0.2, positive, ...extra };
          const x = gaussians(3 * 3 * 12, mulberry32(31));
          const ref = infoNCERef({ ...opts, features: x });
          assert.deepEqual(ref.usedImages, [true, true, false]);
          assertMatchesFD(`info_nce/${positive} ${how}`, ref.grad, (f) => infoNCERef({ ...opts, features: f }).loss, x);
          for (let k = 2 * 3 * 12; k < x.length; k++) assert.equal(ref.grad[k], 0, 'skipped image has a gradient');
        });
      }
    }
  });

  describe('cfl_objective', () => {
    it('logits and features, alpha 0.7, column maxima frozen', () => {
      const shape = [2, 3, 4, 4],
        p = 2;
      const rand = mulberry32(41);
      const forged = [
        [1, 0.75, 0, 0.5],
        [0, 0.25, 1, 1],
      ];
      // A fractional value keeps a patch's label but makes its pixel class 0 for the CE (trunc).
      const mask = patchMask(2, 4, 4, p, (b, n) => forged[b][n]).map((m, i) => (i % 7 === 3 && m === 1 ? 0.9 : m));
      const logits = gaussians(2 * 2 * 16, rand),
        features = gaussians(2 * 3 * 16, rand);
      const opts = { mask, shape, alpha: 0.7, patchSize: p, temperature: 0.1 };
      const ref = cflObjectiveRef({ ...opts, logits, features });
      const frozenColumnMax = ref.columnMax;
      const lossAt = (l, f) => cflObjectiveRef({ ...opts, logits: l, features: f, frozenColumnMax }).loss;
      assertMatchesFD('cfl_objective logits', ref.gradLogits, (l) => lossAt(l, features), Float64Array.from(logits));
      assertMatchesFD(
        'cfl_objective features',
        ref.gradFeatures,
        (f) => lossAt(logits, f),
        Float64Array.from(features),
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------

it('worst errors seen (report)', (t) => {
  for (const [key, { value, name }] of Object.entries(worst).sort())
    t.diagnostic(`${key}: ${value.toExponential(2)} (${name})`);
});
