// fast-check generators for the differential fuzzer (tests/fuzz.test.mjs, scripts/fuzz.mjs).
//
// A generated case is a small JSON *descriptor* (loss, shape, options, input kinds and a data
// seed), not the arrays themselves: `materialize` turns it into the typed arrays deterministically,
// so a failure prints as one line of JSON, replays without fast-check, and shrinks by shrinking
// the descriptor (smaller B, C, grid, simpler kinds).
//
// Domain (what the engine must match the float64 reference on, docs/spec.md §8 tolerances):
//   shapes   B 1–4, C 1–64, H and W up to 64 (not always square), patch sizes that divide them;
//   masks    blobs, all 0, all 1, a single forged / pristine pixel, Bernoulli noise, clean patches,
//            fractional values (multiples of 1/256), exact 0.5 patch ties, a different kind per image;
//   features i.i.d., smooth fields, class-separated clusters, a few distinct vectors (duplicates),
//            identical directions (exact-zero gradients), with zero vectors, sub-1e-12 vectors,
//            small (1e-4) and huge (1e12) vectors mixed in; Uint8Array and Float32Array masks;
//   options  every variant, temperature, weight, ignoreIndex, reduction, label smoothing, alpha,
//            grad true/false, explicit and seeded infoNCE sampling (including J = 0, 1, 2 lists).
// What the generators deliberately avoid, because the spec itself says float32 cannot resolve it:
//   * temperatures outside [0.03, 2] in the differential arm: logits scale with 1/t, so at t ≪ 0.03
//     the float32 rounding of a cosine (~6e-8) becomes a loss error above rtol·max(1,|L|) on
//     well-separated inputs. The extreme arm (`extremeCaseArb`) covers [1e-12, 1e12] and checks
//     only that outputs stay finite or the input is refused with a typed error.
//   * vectors whose norm lies within a factor 10 of the 1e-12 normalization threshold: the branch
//     taken is decided by float32 vs float64 rounding (a discontinuity of the spec's function), so
//     "tiny" vectors are placed at norms ≤ 1e-13;
//   * exact-zero gradients (identical directions, or C = 1 where every unit vector is ±1) combined
//     with small norms: float32 rounding leaves noise of about 6e-8·|upstream|/‖v‖, beyond the
//     absolute atol_noise once ‖v‖ is small (the golden noise cases use O(1) norms). Such images keep
//     norms ≥ 0.5, no 1e-4 vectors and no pixel noise (zero, sub-1e-12 and huge vectors stay);
//   * features whose patch mean cancels to a small fraction of the pixel values (|Σ| ≪ Σ|·|): the
//     float32 pooling sum would lose the direction. Pixel noise inside a patch is at most the size of
//     the patch's own vector.

import fc from 'fast-check';

export const LOSSES = ['crossEntropy', 'patchContrast', 'infoNCE', 'cflObjective'];

/** Reference work per case (a rough count of inner-loop steps), bounded by the `budget` of an arm. */
export function referenceCost(d) {
  const hw = d.H * d.W;
  switch (d.loss) {
    case 'crossEntropy':
      return d.B * d.C * hw;
    case 'patchContrast':
    case 'cflObjective': {
      const n = hw / (d.p * d.p);
      return d.B * n * n * (d.C + 8) + d.B * d.C * hw;
    }
    case 'infoNCE': {
      const per = d.sample?.kind === 'seeded' ? Math.min(hw, 2 * d.sample.maxPerClass) : hw;
      return d.B * per * per * (d.C + 8);
    }
    default:
      throw new Error(`unknown loss ${d.loss}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Pieces

const seedArb = fc.integer({ min: 0, max: 0x7fffffff });
const batchArb = fc.integer({ min: 1, max: 4 });
const channelsArb = fc.oneof(fc.constantFrom(1, 2, 3, 4, 8, 16, 32, 64), fc.integer({ min: 1, max: 64 }));
/** Practical temperatures (the differential arm; see the header for why not smaller). */
const temperatureArb = fc.oneof(
  fc.constantFrom(0.05, 0.07, 0.1, 0.2, 0.5, 1),
  fc.double({ min: 0.03, max: 2, noNaN: true }),
);

/** Patch size p and a grid kh × kw with p·kh, p·kw ≤ 64. */
const gridArb = fc.constantFrom(1, 2, 3, 4, 4, 4, 5, 6, 8, 16, 32, 64).chain((p) =>
  fc.record({
    p: fc.constant(p),
    kh: fc.integer({ min: 1, max: Math.floor(64 / p) }),
    kw: fc.integer({ min: 1, max: Math.floor(64 / p) }),
  }),
);

export const MASK_KINDS = [
  'blob',
  'zeros',
  'ones',
  'pixel',
  'pristinePixel',
  'random',
  'patches',
  'fractional',
  'ties',
  'mixed',
];
const maskArb = fc.record({ kind: fc.constantFrom(...MASK_KINDS), seed: seedArb, uint8: fc.boolean() });

export const FEATURE_KINDS = ['gaussian', 'smooth', 'clustered', 'fewDistinct', 'identical'];
const featuresArb = fc.record({
  kind: fc.constantFrom(...FEATURE_KINDS),
  // log10 of the overall scale
  scale: fc.oneof(fc.constant(0), fc.double({ min: -2, max: 2, noNaN: true })),
  // fractions of vectors replaced by special ones (each 0 most of the time)
  zero: fc.oneof(fc.constant(0), fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  tiny: fc.oneof(fc.constant(0), fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  small: fc.oneof(fc.constant(0), fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  huge: fc.oneof(fc.constant(0), fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  dup: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
  // patch losses: per-pixel noise inside a patch, relative to the patch vector
  pixelNoise: fc.constantFrom(0, 0, 0.1, 1),
  seed: seedArb,
});

/**
 * Shrinks a shape until its reference cost fits `budget`: C first, then B, then the grid. Applied
 * with .map, so fast-check still shrinks the unfitted values.
 */
function fit(budget) {
  return (d) => {
    const out = { ...d };
    const grid = 'kh' in out;
    const sync = () => {
      if (grid) {
        out.H = out.p * out.kh;
        out.W = out.p * out.kw;
      }
    };
    sync();
    while (referenceCost(out) > budget) {
      if (out.C > 4) out.C = Math.max(4, Math.floor(out.C / 2));
      else if (out.B > 1) out.B -= 1;
      else if (grid && (out.kh > 1 || out.kw > 1)) {
        if (out.kh >= out.kw) out.kh = Math.max(1, Math.floor(out.kh / 2));
        else out.kw = Math.max(1, Math.floor(out.kw / 2));
      } else if (!grid && (out.H > 1 || out.W > 1)) {
        if (out.H >= out.W) out.H = Math.max(1, Math.floor(out.H / 2));
        else out.W = Math.max(1, Math.floor(out.W / 2));
      } else if (out.C > 1) out.C = Math.max(1, Math.floor(out.C / 2));
      else if (out.sample?.kind === 'seeded' && out.sample.maxPerClass > 1)
        out.sample = { ...out.sample, maxPerClass: Math.ceil(out.sample.maxPerClass / 2) };
      else break;
      sync();
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Per-loss descriptors

const crossEntropyArb = fc.record({
  loss: fc.constant('crossEntropy'),
  B: batchArb,
  C: channelsArb,
  H: fc.integer({ min: 1, max: 64 }),
  W: fc.integer({ min: 1, max: 64 }),
  target: fc.constantFrom('int32', 'int32', 'uint8', 'uint16', 'probs', 'probs'),
  probs: fc.constantFrom('softmax', 'onehot', 'unnormalized'),
  weight: fc.constantFrom('none', 'none', 'positive', 'withZeros', 'ones'),
  ignore: fc.constantFrom('default', 'default', '255', 'inRange'),
  ignoredFraction: fc.constantFrom(0, 0, 0.3, 1),
  reduction: fc.constantFrom('mean', 'mean', 'sum', 'none'),
  labelSmoothing: fc.oneof(
    fc.constant(0),
    fc.constant(0),
    fc.constant(0.1),
    fc.constant(1),
    fc.double({ min: 0, max: 1, noNaN: true }),
  ),
  logitScale: fc.oneof(fc.constant(0), fc.double({ min: -2, max: 1.5, noNaN: true })),
  grad: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(true), fc.constant(false)),
  seed: seedArb,
});

const patchContrastArb = fc
  .record({
    loss: fc.constant('patchContrast'),
    B: batchArb,
    C: channelsArb,
    grid: gridArb,
    variant: fc.constantFrom('exact', 'cflnet'),
    temperature: temperatureArb,
    mask: maskArb,
    features: featuresArb,
    grad: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(true), fc.constant(false)),
    defaults: fc.boolean(), // omit patchSize 4 / temperature 0.1 / variant 'exact' when they equal the default
  })
  .map(({ grid, ...d }) => ({ ...d, ...grid }));

const sampleArb = fc.oneof(
  fc.constant({ kind: 'all' }),
  fc.constant({ kind: 'all' }),
  fc.record({
    kind: fc.constant('seeded'),
    maxPerClass: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 200 })),
    seed: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 0xffffffff })),
  }),
  fc.record({ kind: fc.constant('explicit'), sizes: fc.constantFrom('all', 'random', 'small', 'tiny'), seed: seedArb }),
);

const infoNCEArb = fc.record({
  loss: fc.constant('infoNCE'),
  B: batchArb,
  C: channelsArb,
  H: fc.integer({ min: 1, max: 64 }),
  W: fc.integer({ min: 1, max: 64 }),
  positive: fc.constantFrom('mean-logit', 'mean-exp'),
  temperature: temperatureArb,
  sample: sampleArb,
  mask: maskArb,
  features: featuresArb,
  grad: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(true), fc.constant(false)),
  defaults: fc.boolean(),
});

const cflObjectiveArb = fc
  .record({
    loss: fc.constant('cflObjective'),
    B: batchArb,
    C: channelsArb,
    grid: gridArb,
    temperature: temperatureArb,
    weight: fc.oneof(
      fc.constant(null),
      fc.tuple(fc.double({ min: 0.01, max: 2, noNaN: true }), fc.double({ min: 0.01, max: 2, noNaN: true })),
    ),
    alpha: fc.oneof(fc.constant(null), fc.constant(0), fc.double({ min: -2, max: 3, noNaN: true })),
    logitScale: fc.oneof(fc.constant(0), fc.double({ min: -2, max: 1.5, noNaN: true })),
    mask: maskArb,
    features: featuresArb,
    grad: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(true), fc.constant(false)),
    seed: seedArb,
  })
  .map(({ grid, ...d }) => ({ ...d, ...grid }));

/** Valid inputs of every loss, each within `budget` reference steps. */
export function caseArb({ budget = 2e6, losses = LOSSES } = {}) {
  const by = {
    crossEntropy: crossEntropyArb,
    patchContrast: patchContrastArb,
    infoNCE: infoNCEArb,
    cflObjective: cflObjectiveArb,
  };
  return fc.oneof(...losses.map((l) => by[l])).map(fit(budget));
}

// ---------------------------------------------------------------------------------------------
// Invalid inputs: a valid case plus one mutation that the documented contract rejects with a
// TypeError or RangeError naming the field (docs/api.md).

export const MUTATIONS = {
  crossEntropy: [
    'logitsNaN',
    'logitsInf',
    'logitsLength',
    'logitsType',
    'shape',
    'targetRange',
    'targetType',
    'bothTargets',
    'weightLength',
    'weightNaN',
    'weightHuge',
    'smoothing',
    'reduction',
    'ignoreIndexFraction',
    'probsIgnore',
    'probsNaN',
    'gradType',
  ],
  patchContrast: [
    'featuresNaN',
    'featuresInf',
    'featuresLength',
    'maskValue',
    'mask255',
    'maskNaN',
    'maskType',
    'patchSize',
    'patchSizeZero',
    'temperatureZero',
    'temperatureNaN',
    'temperatureTiny',
    'variant',
    'shape',
  ],
  infoNCE: [
    'featuresNaN',
    'featuresLength',
    'maskValue',
    'temperatureNegative',
    'temperatureTiny',
    'positive',
    'sampleMixed',
    'sampleType',
    'maxPerClass',
    'sampleSeed',
    'explicitRange',
    'explicitClass',
    'explicitRepeat',
    'explicitLength',
  ],
  cflObjective: [
    'logitsNaN',
    'logitsLength',
    'featuresNaN',
    'alphaNaN',
    'alphaInf',
    'alphaHuge',
    'weightLength',
    'maskValue',
    'patchSize',
    'temperatureTiny',
  ],
};

export function invalidCaseArb({ budget = 3e5 } = {}) {
  return caseArb({ budget }).chain((d) =>
    fc.record({
      base: fc.constant(d),
      mutation: fc.constantFrom(...MUTATIONS[d.loss]),
      at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Extreme but valid options and magnitudes: only "finite outputs or a typed error" is checked.

export function extremeCaseArb({ budget = 3e5 } = {}) {
  return caseArb({ budget }).chain((d) =>
    fc.record({
      base: fc.constant(d),
      temperature: fc.double({ min: -12, max: 12, noNaN: true }), // log10
      alpha: fc.double({ min: -12, max: 12, noNaN: true }), // log10 |alpha|
      alphaSign: fc.boolean(),
      weight: fc.double({ min: -30, max: 30, noNaN: true }), // log10 of a class weight
      featureScale: fc.double({ min: -30, max: 40, noNaN: true }), // log10, capped at float32's max
      logitScale: fc.double({ min: -10, max: 6, noNaN: true }), // log10
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Everything together: what one fuzz run draws from.

/** { arm: 'valid' | 'invalid' | 'extreme', x } with valid inputs most of the time. */
export function fuzzArb({ budget = 2e6 } = {}) {
  const small = Math.min(budget, 3e5);
  return fc.oneof(
    { weight: 14, arbitrary: caseArb({ budget }).map((x) => ({ arm: 'valid', x })) },
    { weight: 3, arbitrary: invalidCaseArb({ budget: small }).map((x) => ({ arm: 'invalid', x })) },
    { weight: 3, arbitrary: extremeCaseArb({ budget: small }).map((x) => ({ arm: 'extreme', x })) },
  );
}
