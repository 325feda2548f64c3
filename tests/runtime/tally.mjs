// The runtime suites' check runner (runtime-neutral): each check is a named async function that
// passes or throws; the tally counts the passes, keeps each failure's message and each check's time.

/** A tally whose failures read `${prefix}${name}: ${message}` (`stack`: the error's stack instead). */
export function tally({ prefix = '', stack = false } = {}) {
  const t = {
    passed: 0,
    failures: [],
    /** [name, ms] per check, in order. */
    times: [],
    async check(name, fn) {
      const started = performance.now();
      try {
        await fn();
        t.passed++;
      } catch (error) {
        t.failures.push(`${prefix}${name}: ${(stack ? error?.stack : error?.message) ?? error}`);
      }
      t.times.push([name, Math.round(performance.now() - started)]);
    },
    /** What a suite returns: { passed, failed, failures, ...extra }. */
    result(extra = {}) {
      return { passed: t.passed, failed: t.failures.length, failures: t.failures, ...extra };
    },
  };
  return t;
}
