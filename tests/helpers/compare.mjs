// Comparisons with the float32 tolerances of docs/spec.md §8, and the API options of a golden
// case. No Node imports: the same checks run in Deno, Bun and browsers (tests/runtime).

export const TOL = { rtol: 1e-4, rtolGrad: 1e-3, atolGrad: 0, atolNoise: 1e-4, hugeRtol: 1e-2 };

const num = (v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);

export const f32 = (a) => Float32Array.from(a);

/** |a − e| ≤ rtol·max(1, |e|), NaN equal to NaN. Returns the error measure (for reports). */
export function assertClose(actual, expected, what, rtol = TOL.rtol) {
  const e = num(expected);
  if (Number.isNaN(e)) {
    if (!Number.isNaN(actual)) throw new Error(`${what}: expected NaN, got ${actual}`);
    return 0;
  }
  const err = Math.abs(actual - e) / Math.max(1, Math.abs(e));
  if (!(err <= rtol))
    throw new Error(`${what}: got ${actual}, expected ${e} (error ${err.toExponential(2)} > ${rtol})`);
  return err;
}

export function assertArrayClose(actual, expected, what, rtol = TOL.rtol) {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, assertClose(actual[i], expected[i], `${what}[${i}]`, rtol));
  return worst;
}

/**
 * Gradient check of docs/spec.md §8: max|a − e| ≤ rtol_g·max|e| + atol_g, or ≤ atol_noise for noise
 * gradients (or max|e| < 1e-9); entries above 1e6 checked apart from the ordinary ones.
 * Returns the error relative to the array's maximum.
 */
export function assertGradClose(actual, expected, what, { noise = false } = {}) {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  let maxE = 0;
  for (const e of expected) maxE = Math.max(maxE, Math.abs(e));
  if (noise || maxE < 1e-9) {
    const err = maxDiff(actual, expected, () => true);
    if (!(err <= TOL.atolNoise))
      throw new Error(`${what}: noise gradient differs by ${err.toExponential(2)} > ${TOL.atolNoise}`);
    return err;
  }
  const huge = (e) => Math.abs(e) > 1e6;
  const ordinary = (e) => !huge(e);
  let maxOrdinary = 0;
  for (const e of expected) if (ordinary(e)) maxOrdinary = Math.max(maxOrdinary, Math.abs(e));
  const errOrdinary = maxDiff(actual, expected, ordinary);
  const bound = maxE > 1e6 ? TOL.rtolGrad * maxOrdinary + TOL.atolNoise : TOL.rtolGrad * maxE + TOL.atolGrad;
  if (!(errOrdinary <= bound))
    throw new Error(
      `${what}: max error ${errOrdinary.toExponential(3)} > ${bound.toExponential(3)} (max |e| ${maxOrdinary.toExponential(3)})`,
    );
  if (maxE > 1e6) {
    const errHuge = maxDiff(actual, expected, huge);
    if (!(errHuge <= TOL.hugeRtol * maxE))
      throw new Error(
        `${what}: huge entries differ by ${errHuge.toExponential(3)} > ${(TOL.hugeRtol * maxE).toExponential(3)}`,
      );
  }
  return errOrdinary / Math.max(maxOrdinary, 1e-300);
}

function maxDiff(actual, expected, keep) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!keep(expected[i])) continue;
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

export function assertExact(actual, expected, what) {
  const a = Array.from(actual, Number),
    e = Array.from(expected, Number);
  if (a.length !== e.length || a.some((v, i) => v !== e[i]))
    throw new Error(`${what}: got ${JSON.stringify(a).slice(0, 200)}, expected ${JSON.stringify(e).slice(0, 200)}`);
}

/** The API options of a golden case. */
export function optionsOf(c) {
  const o = c.options,
    s = c.shapes,
    i = c.inputs;
  switch (c.loss) {
    case 'cross_entropy': {
      const opts = {
        logits: f32(i.logits),
        shape: s.logits,
        reduction: o.reduction,
        labelSmoothing: o.label_smoothing,
      };
      if (o.weight) opts.weight = o.weight;
      if (o.target_kind === 'index') {
        opts.target = Int32Array.from(i.target);
        opts.ignoreIndex = o.ignore_index;
      } else opts.targetProbs = f32(i.target_probs);
      return opts;
    }
    case 'patch_contrast':
      return {
        features: f32(i.features),
        mask: f32(i.mask),
        shape: s.features,
        patchSize: o.patch_size,
        temperature: o.temperature,
        variant: c.variant,
      };
    case 'info_nce': {
      const opts = {
        features: f32(i.features),
        mask: f32(i.mask),
        shape: s.features,
        temperature: o.temperature,
        positive: c.variant,
      };
      if (o.sampling === 'indices')
        opts.sample = {
          pristine: i.sample_pristine.map((l) => l.slice()),
          forged: i.sample_forged.map((l) => l.slice()),
        };
      return opts;
    }
    case 'cfl_objective':
      return {
        logits: f32(i.logits),
        features: f32(i.features),
        mask: f32(i.mask),
        shape: s.features,
        weight: o.weight,
        alpha: o.alpha,
        patchSize: o.patch_size,
        temperature: o.temperature,
      };
    default:
      throw new Error(`unknown loss ${c.loss}`);
  }
}
