// Summary statistics over repeated runs (one value per seed), shared by the examples that run
// several seeds: mean, sample standard deviation and a two-sided 95 % Student t interval.

/** Mean of the values (NaN when there are none). */
export const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

/** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
export function sd(values) {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1));
}

// The 0.975 quantile of Student's t with 1..30 degrees of freedom.
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The 0.975 quantile of Student's t with `df` degrees of freedom (tabled to 30, then the normal's 1.96 as the limit). */
export const t975 = (df) => (df <= 30 ? T975[df - 1] : df <= 60 ? 2.0 : 1.96);

/** { mean, sd } of the values. */
export const meanSd = (values) => ({ mean: mean(values), sd: sd(values) });

/**
 * The mean and its 95 % t-interval, [mean − t·sd/√n, mean + t·sd/√n]; for paired differences pass
 * the per-seed differences. With one value there is no spread to estimate: the interval is [null, null].
 */
export function meanCi95(values) {
  const m = mean(values),
    n = values.length;
  if (n < 2) return { mean: m, ci95: [null, null] };
  const half = (t975(n - 1) * sd(values)) / Math.sqrt(n);
  return { mean: m, ci95: [m - half, m + half] };
}
