// How the parts' results are merged (docs/design.md §9): row results placed, maxima taken, sums
// added in float64 and log-sum-exp statistics combined, always in part order, so that the merged
// values are the bits one instance running every strip would give.

/** acc += part, float64 element by element (the first `count` elements; all by default). */
export function addInto64(acc: Float64Array, part: Float64Array | Float32Array, count = part.length): void {
  for (let i = 0; i < count; i++) acc[i] += part[i];
}

/** acc[i] = max(acc[i], part[i]). */
export function maxInto(acc: Float32Array, part: Float32Array): void {
  for (let i = 0; i < acc.length; i++) if (part[i] > acc[i]) acc[i] = part[i];
}

/**
 * Running (maximum, sum of e^(s − maximum)) pairs per row, merged in float64 part after part:
 * m = max(m, m_k), sum = sum·e^(m_old − m) + sum_k·e^(m_k − m). LSE = m + ln(sum) once every part
 * is in.
 */
export class RunningLse {
  readonly top: Float64Array;
  readonly sum: Float64Array;

  constructor(rows: number) {
    this.top = new Float64Array(rows).fill(-3e38);
    this.sum = new Float64Array(rows);
  }

  /** A part's pairs for the first `count` rows; a row the part did not touch (sum_k 0) is left alone. */
  merge(partTop: Float32Array, partSum: Float32Array, count: number): void {
    const { top, sum } = this;
    for (let i = 0; i < count; i++) {
      if (partSum[i] === 0) continue;
      const m = Math.max(top[i], partTop[i]);
      sum[i] = sum[i] * Math.exp(top[i] - m) + partSum[i] * Math.exp(partTop[i] - m);
      top[i] = m;
    }
  }

  lse(i: number): number {
    return this.top[i] + Math.log(this.sum[i]);
  }
}
