// Summary numbers of a loss curve (one value per training step).

const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

/** The final training loss: the mean of the last 10 % of the steps' losses (at least one step). */
export function finalLoss(losses) {
  return mean(losses.slice(-Math.max(1, Math.round(losses.length / 10))));
}

/**
 * Jitter of the loss: the mean absolute step-to-step change over the second half of training,
 * divided by the mean loss there (scale-free, so runs with different loss scales compare).
 */
export function lossJitter(losses) {
  const half = losses.slice(Math.floor(losses.length / 2));
  if (half.length < 2) return 0;
  return stepChangeRaw(losses) / mean(half);
}

/** The mean absolute step-to-step change of the loss over the second half of training, in loss units. */
export function stepChangeRaw(losses) {
  const half = losses.slice(Math.floor(losses.length / 2));
  if (half.length < 2) return 0;
  return mean(half.slice(1).map((v, i) => Math.abs(v - half[i])));
}
