// The ablation over seeds as a PNG, two panels: the held-out IoU of both scopes at each evaluation
// (one thin line per seed, the mean over seeds thick), and each seed's final IoU of both scopes,
// joined per seed (the pairing the IoU gap is computed over).

import { Canvas } from '../train/png.mjs';
import { axes, COLORS, legend, niceStep } from './plot.mjs';

const BLACK = [0, 0, 0],
  GREY = [225, 225, 225],
  AXIS = [90, 90, 90],
  PAIR = [160, 160, 160];

/** The mean curve of runs evaluated at the same steps: [step, mean IoU][]. */
const meanCurve = (curves) => curves[0].map(([s], k) => [s, curves.reduce((a, c) => a + c[k][1], 0) / curves.length]);

/** Final IoU of both scopes per seed, a line joining each seed's pair. */
function pairs(cv, box, seeds, gap) {
  const { left, right, top, bottom } = box;
  const signed = (v) => `${v >= 0 ? '+' : ''}${v.toFixed(3)}`;
  const interval = gap.ci95[0] === null ? 'n/a' : `${signed(gap.ci95[0])} to ${signed(gap.ci95[1])}`;
  cv.text(left, top - 60, 'final held-out IoU of each seed, its two scopes joined', BLACK);
  cv.text(left, top - 36, `paired gap image - batch: mean ${signed(gap.mean)}, 95% t-interval ${interval}`, AXIS);
  const all = seeds.flatMap((s) => [s.image.summary.iou, s.batch.summary.iou]);
  const lo = Math.min(...all),
    hi = Math.max(...all);
  const yStep = niceStep(hi - lo || 0.1, 5);
  const yMin = Math.floor((lo - yStep / 4) / yStep) * yStep,
    yMax = Math.ceil((hi + yStep / 4) / yStep) * yStep;
  const Y = (v) => bottom - ((bottom - top) * (v - yMin)) / (yMax - yMin);
  for (let v = yMin; v <= yMax + 1e-9; v += yStep) {
    cv.line(left, Y(v), right, Y(v), GREY);
    cv.text(left - 8, Y(v) - 7, v.toFixed(Math.max(0, -Math.floor(Math.log10(yStep) + 1e-9))), AXIS, {
      align: 'right',
    });
  }
  const xs = [left + (right - left) * 0.3, left + (right - left) * 0.7];
  ['scope image', 'scope batch'].forEach((name, i) => {
    cv.text(xs[i], bottom + 10, name, COLORS[i].line, { align: 'center' });
  });
  for (const s of seeds) {
    const [a, b] = [Y(s.image.summary.iou), Y(s.batch.summary.iou)];
    cv.line(xs[0], a, xs[1], b, PAIR);
    cv.rect(xs[0] - 3, a - 3, xs[0] + 3, a + 3, COLORS[0].line);
    cv.rect(xs[1] - 3, b - 3, xs[1] + 3, b + 3, COLORS[1].line);
  }
  cv.line(left, top, left, bottom, AXIS);
  cv.line(left, bottom, right, bottom, AXIS);
}

/**
 * PNG bytes. seeds: [{ image: curve, batch: curve }] with curve { iou: [step, IoU][], summary: { iou } };
 * gap: the paired IoU gap { mean, ci95: [lo, hi] }.
 */
export function plotSeeds(seeds, steps, title, gap) {
  const width = 1000,
    panel = 370;
  const cv = new Canvas(width, 40 + 2 * panel);
  cv.text(80, 12, title, BLACK);
  const box = (i) => ({ left: 80, right: width - 30, top: 40 + i * panel + 90, bottom: 40 + (i + 1) * panel - 52 });
  const iou = axes(cv, box(0), steps, 0, 1, 0.2, 'held-out IoU (2-means clusters of the features), every seed');
  const means = ['image', 'batch'].map((scope, i) => {
    for (const s of seeds)
      s[scope].iou.forEach(([step, v], k, c) => {
        if (k > 0) cv.line(iou.X(c[k - 1][0]), iou.Y(c[k - 1][1]), iou.X(step), iou.Y(v), COLORS[i].raw);
      });
    const m = meanCurve(seeds.map((s) => s[scope].iou));
    m.forEach(([step, v], k) => {
      if (k > 0) cv.line(iou.X(m[k - 1][0]), iou.Y(m[k - 1][1]), iou.X(step), iou.Y(v), COLORS[i].line, 2);
    });
    return { scope, final: m.at(-1)[1] };
  });
  legend(
    cv,
    box(0).left,
    box(0).top - 48,
    means,
    (r) => `scope ${r.scope} - mean over seeds, final ${r.final.toFixed(3)}`,
  );
  pairs(cv, box(1), seeds, gap);
  return cv.png();
}
