// Comparisons with the float64 tolerances of docs/spec.md §8 (golden.mjs holds the float32
// ones). Each assertion returns its error measure so a suite can report the worst it saw.

export const TOL64 = { rtol: 1e-10, rtolGrad: 1e-9, atolGrad: 1e-12, atolNoise: 1e-12 };

const HUGE = 1e6; // |e| above this: the 1/1e-12 gradients of zero or sub-1e-12 vectors
const TINY = 1e-9; // max |e| below this: epsilon-driven cflnet gradients, compared absolutely

const num = (v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);

/** |a − e| ≤ rtol·max(1, |e|); NaN only equals NaN. Returns |a − e|/max(1, |e|). */
export function assertClose64(actual, expected, what) {
  const e = num(expected);
  if (Number.isNaN(e)) {
    if (!Number.isNaN(actual)) throw new Error(`${what}: expected NaN, got ${actual}`);
    return 0;
  }
  const err = Math.abs(actual - e) / Math.max(1, Math.abs(e));
  if (!(err <= TOL64.rtol))
    throw new Error(`${what}: got ${actual}, expected ${e} (error ${err.toExponential(2)} > ${TOL64.rtol})`);
  return err;
}

/** Elementwise assertClose64; `null` entries must stay `null`. Returns the worst error. */
export function assertArrayClose64(actual, expected, what) {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === null || actual[i] === null) {
      if (expected[i] !== actual[i]) throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
      continue;
    }
    worst = Math.max(worst, assertClose64(actual[i], expected[i], `${what}[${i}]`));
  }
  return worst;
}

/**
 * Gradient arrays: max|a − e| ≤ rtol_g·max|e| + atol_g. Noise gradients (flagged, or max|e| < 1e-9)
 * are compared absolutely with atol_noise. With huge entries (> 1e6) the ordinary entries are also
 * checked against their own maximum, since a bound relative to 1e12 would say nothing about them.
 * Returns { relative } (error / max|e| of the entries it bounds) or { absolute } for noise arrays.
 */
export function assertGradClose64(actual, expected, what, { noise = false } = {}) {
  if (actual.length !== expected.length)
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  const all = () => true,
    ordinary = (e) => Math.abs(e) <= HUGE;
  const maxE = maxAbs(expected, all);
  if (noise || maxE < TINY) {
    const err = maxDiff(actual, expected, all);
    if (!(err <= TOL64.atolNoise))
      throw new Error(`${what}: noise gradient differs by ${err.toExponential(2)} > ${TOL64.atolNoise}`);
    return { absolute: err };
  }
  const errAll = maxDiff(actual, expected, all);
  const boundAll = TOL64.rtolGrad * maxE + TOL64.atolGrad;
  if (!(errAll <= boundAll))
    throw new Error(
      `${what}: max error ${errAll.toExponential(3)} > ${boundAll.toExponential(3)} (max |e| ${maxE.toExponential(3)})`,
    );
  if (maxE <= HUGE) return { relative: errAll / maxE };
  const maxOrdinary = maxAbs(expected, ordinary);
  const errOrdinary = maxDiff(actual, expected, ordinary);
  const boundOrdinary = TOL64.rtolGrad * maxOrdinary + TOL64.atolNoise;
  if (!(errOrdinary <= boundOrdinary))
    throw new Error(
      `${what}: ordinary entries differ by ${errOrdinary.toExponential(3)} > ${boundOrdinary.toExponential(3)} (max ordinary |e| ${maxOrdinary.toExponential(3)})`,
    );
  return { relative: Math.max(errAll / maxE, errOrdinary / Math.max(maxOrdinary, 1e-300)) };
}

/** Integers (labels, counts, flags) must match exactly. */
export function assertExact64(actual, expected, what) {
  const a = Array.from(actual, Number),
    e = Array.from(expected, Number);
  if (a.length !== e.length || a.some((v, i) => v !== e[i]))
    throw new Error(`${what}: got ${JSON.stringify(a).slice(0, 200)}, expected ${JSON.stringify(e).slice(0, 200)}`);
}

function maxAbs(values, keep) {
  let max = 0;
  for (const v of values) if (keep(v)) max = Math.max(max, Math.abs(v));
  return max;
}

/** max |a − e| over the kept expected entries; a NaN difference counts as Infinity. */
function maxDiff(actual, expected, keep) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    if (!keep(expected[i])) continue;
    const d = Math.abs(actual[i] - expected[i]);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    if (worst === Infinity) break;
  }
  return worst;
}
