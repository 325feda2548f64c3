// The training curves as a PNG: one panel per run, the training loss per step (left axis; raw and
// a moving average) and the held-out IoU at each evaluation (right axis, 0 to 1).

import { Canvas } from './png.mjs';

const BLACK = [0, 0, 0],
  GREY = [225, 225, 225],
  AXIS = [90, 90, 90];
const LOSS_RAW = [170, 195, 235],
  LOSS = [25, 80, 170],
  IOU = [225, 110, 20];

function niceStep(range, ticks) {
  const raw = range / ticks,
    mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
}

const label = (v, step) => v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));

function movingAverage(values, window) {
  return values.map((_, i) => {
    const part = values.slice(Math.max(0, i - window + 1), i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
}

function panel(cv, top, height, { curve, before, after, title }, width) {
  const left = 80,
    right = width - 70,
    plotTop = top + 56,
    bottom = top + height - 48;
  const steps = curve.loss.length;
  const lossMax = Math.max(...curve.loss, before.loss) * 1.05;
  const lossStep = niceStep(lossMax, 5);
  const yMax = Math.ceil(lossMax / lossStep) * lossStep;
  const X = (s) => left + ((right - left) * s) / steps;
  const YL = (v) => bottom - ((bottom - plotTop) * v) / yMax;
  const YI = (v) => bottom - (bottom - plotTop) * v;

  cv.text(left, top + 8, title, BLACK);
  cv.text(
    left,
    top + 28,
    `held-out loss ${before.loss.toFixed(2)} -> ${after.loss.toFixed(2)}, IoU ${before.iou.toFixed(2)} -> ${after.iou.toFixed(2)}`,
    AXIS,
  );
  for (let v = 0; v <= yMax + 1e-9; v += lossStep) {
    cv.line(left, YL(v), right, YL(v), GREY);
    cv.text(left - 8, YL(v) - 7, label(v, lossStep), LOSS, { align: 'right' });
  }
  for (let v = 0; v <= 1.0001; v += 0.2) cv.text(right + 8, YI(v) - 7, v.toFixed(1), IOU);
  const xStep = niceStep(steps, 8);
  for (let s = 0; s <= steps; s += xStep) {
    cv.line(X(s), bottom, X(s), bottom + 4, AXIS);
    cv.text(X(s), bottom + 9, String(s), AXIS, { align: 'center' });
  }
  cv.text((left + right) / 2, bottom + 28, 'step', AXIS, { align: 'center' });
  cv.line(left, plotTop, left, bottom, AXIS);
  cv.line(right, plotTop, right, bottom, AXIS);
  cv.line(left, bottom, right, bottom, AXIS);

  const smooth = movingAverage(curve.loss, 10);
  for (let i = 1; i < steps; i++) cv.line(X(i), YL(curve.loss[i - 1]), X(i + 1), YL(curve.loss[i]), LOSS_RAW);
  for (let i = 1; i < steps; i++) cv.line(X(i), YL(smooth[i - 1]), X(i + 1), YL(smooth[i]), LOSS, 2);
  for (let i = 0; i < curve.iou.length; i++) {
    const [s, v] = curve.iou[i];
    if (i > 0) cv.line(X(curve.iou[i - 1][0]), YI(curve.iou[i - 1][1]), X(s), YI(v), IOU, 2);
    cv.rect(X(s) - 3, YI(v) - 3, X(s) + 3, YI(v) + 3, IOU);
  }
  // legend
  const lx = right - 330,
    ly = plotTop + 8;
  cv.line(lx, ly + 6, lx + 24, ly + 6, LOSS, 2);
  cv.text(lx + 30, ly, 'train loss (avg 10)', LOSS);
  cv.rect(lx + 6, ly + 21, lx + 12, ly + 27, IOU);
  cv.text(lx + 30, ly + 18, 'held-out IoU', IOU);
}

/** PNG bytes of the runs' curves, one panel each, stacked. */
export function plotCurves(runs) {
  const width = 900,
    panelHeight = 340;
  const cv = new Canvas(width, panelHeight * runs.length + 10);
  for (const [i, r] of runs.entries()) panel(cv, 10 + i * panelHeight, panelHeight, r, width);
  return cv.png();
}
