// The ablation as a PNG, two panels sharing the step axis: the training loss of both runs (raw and
// a moving average of 10 steps; the two scopes' losses have different scales, so compare shapes)
// and the held-out IoU of both runs at each evaluation (0 to 1).

import { Canvas } from '../train/png.mjs';

const BLACK = [0, 0, 0],
  GREY = [225, 225, 225],
  AXIS = [90, 90, 90];
export const COLORS = [
  { line: [25, 80, 170], raw: [175, 200, 238] },
  { line: [215, 95, 10], raw: [245, 205, 170] },
];

export function niceStep(range, ticks) {
  const raw = range / ticks,
    mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

const tickLabel = (v, step) => v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));

const movingAverage = (values, window) =>
  values.map((_, i) => {
    const part = values.slice(Math.max(0, i - window + 1), i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });

/** Axes, grid and labels of one panel; returns the mappings from step and value to pixels. */
export function axes(cv, box, steps, yMin, yMax, yStep, title) {
  const { left, right, top, bottom } = box;
  cv.text(left, top - 70, title, BLACK);
  const X = (s) => left + ((right - left) * s) / steps;
  const Y = (v) => bottom - ((bottom - top) * (v - yMin)) / (yMax - yMin);
  for (let v = yMin; v <= yMax + 1e-9; v += yStep) {
    cv.line(left, Y(v), right, Y(v), GREY);
    cv.text(left - 8, Y(v) - 7, tickLabel(v, yStep), AXIS, { align: 'right' });
  }
  const xStep = Math.max(1, niceStep(steps, 8));
  for (let s = 0; s <= steps; s += xStep) {
    cv.line(X(s), bottom, X(s), bottom + 4, AXIS);
    cv.text(X(s), bottom + 9, String(s), AXIS, { align: 'center' });
  }
  cv.text((left + right) / 2, bottom + 28, 'step', AXIS, { align: 'center' });
  cv.line(left, top, left, bottom, AXIS);
  cv.line(left, bottom, right, bottom, AXIS);
  return { X, Y };
}

/** One line per run, coloured like its curve. */
export function legend(cv, x, y, runs, describe) {
  runs.forEach((r, i) => {
    cv.line(x, y + i * 20 + 6, x + 24, y + i * 20 + 6, COLORS[i].line, 2);
    cv.text(x + 32, y + i * 20, describe(r), COLORS[i].line);
  });
}

/**
 * PNG bytes. runs: [{ name, loss: number[] per step, iou: [step, IoU][], summary: { finalLoss, iou, lossJitter } }].
 */
export function plotAblation(runs, title) {
  const width = 1000,
    panel = 370;
  const cv = new Canvas(width, 40 + 2 * panel);
  cv.text(80, 12, title, BLACK);
  const steps = Math.max(...runs.map((r) => r.loss.length));
  const box = (i) => ({ left: 80, right: width - 30, top: 40 + i * panel + 90, bottom: 40 + (i + 1) * panel - 52 });

  const all = runs.flatMap((r) => r.loss);
  const lo = Math.min(...all),
    hi = Math.max(...all);
  const yStep = niceStep(hi - lo || 1, 5);
  const yMin = Math.floor(lo / yStep) * yStep,
    yMax = Math.ceil(hi / yStep) * yStep;
  const loss = axes(cv, box(0), steps, yMin, yMax, yStep, 'training loss per step (raw, and average of 10)');
  runs.forEach((r, i) => {
    const smooth = movingAverage(r.loss, 10);
    for (let s = 1; s < r.loss.length; s++)
      cv.line(loss.X(s), loss.Y(r.loss[s - 1]), loss.X(s + 1), loss.Y(r.loss[s]), COLORS[i].raw);
    for (let s = 1; s < r.loss.length; s++)
      cv.line(loss.X(s), loss.Y(smooth[s - 1]), loss.X(s + 1), loss.Y(smooth[s]), COLORS[i].line, 2);
  });
  legend(
    cv,
    box(0).left,
    box(0).top - 48,
    runs,
    (r) => `${r.name} - final ${r.summary.finalLoss.toFixed(3)}, jitter ${r.summary.lossJitter.toFixed(3)}`,
  );

  const iou = axes(cv, box(1), steps, 0, 1, 0.2, 'held-out IoU (2-means clusters of the features)');
  runs.forEach((r, i) => {
    r.iou.forEach(([s, v], k) => {
      if (k > 0) cv.line(iou.X(r.iou[k - 1][0]), iou.Y(r.iou[k - 1][1]), iou.X(s), iou.Y(v), COLORS[i].line, 2);
      cv.rect(iou.X(s) - 3, iou.Y(v) - 3, iou.X(s) + 3, iou.Y(v) + 3, COLORS[i].line);
    });
  });
  legend(cv, box(1).left, box(1).top - 48, runs, (r) => `${r.name} - final IoU ${r.summary.iou.toFixed(3)}`);
  return cv.png();
}
