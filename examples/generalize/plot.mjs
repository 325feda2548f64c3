// The generalization test as a PNG, two panels of bars: held-out IoU per split (seen, unseen) and
// per manipulation, one bar per method: the mean over seeds, a whisker of ± one sd, and a dot per
// seed.

import { meanSd } from '../stats.mjs';
import { Canvas } from '../train/png.mjs';
import { SEEN, UNSEEN } from './data.mjs';

const BLACK = [0, 0, 0],
  GREY = [225, 225, 225],
  AXIS = [90, 90, 90];
const COLORS = {
  ce: { bar: [150, 150, 150], dot: [60, 60, 60], label: 'CE' },
  cflnet: { bar: [245, 190, 140], dot: [190, 80, 0], label: 'CFL-Net: CE + contrast' },
  focal: { bar: [160, 190, 235], dot: [25, 80, 170], label: 'FOCAL: InfoNCE, 2-means' },
};

/** One panel: groups along x, a bar per method in each, a rule before group `split`; values IoU in [0, 1]. */
function panel(cv, box, title, groups, runs, pick, split = 1) {
  const { left, right, top, bottom } = box;
  cv.text(left, top - 30, title, BLACK);
  const Y = (v) => bottom - (bottom - top) * v;
  for (let v = 0; v <= 1 + 1e-9; v += 0.2) {
    cv.line(left, Y(v), right, Y(v), GREY);
    cv.text(left - 8, Y(v) - 7, v.toFixed(1), AXIS, { align: 'right' });
  }
  const names = Object.keys(runs),
    groupWidth = (right - left) / groups.length,
    barWidth = Math.min(60, (groupWidth * 0.8) / names.length);
  groups.forEach((group, g) => {
    const x0 = left + g * groupWidth + (groupWidth - barWidth * names.length) / 2;
    names.forEach((name, m) => {
      const values = runs[name].map((r) => pick(r, group));
      const { mean, sd } = meanSd(values),
        x = x0 + m * barWidth,
        mid = x + barWidth / 2;
      cv.rect(x + 3, Y(mean), x + barWidth - 3, bottom, COLORS[name].bar);
      cv.line(mid, Y(Math.min(1, mean + sd)), mid, Y(Math.max(0, mean - sd)), BLACK, 2);
      for (const end of [mean + sd, mean - sd])
        cv.line(mid - 6, Y(Math.min(1, Math.max(0, end))), mid + 6, Y(Math.min(1, Math.max(0, end))), BLACK, 2);
      values.forEach((v, i) => {
        const dx = 8 + i * 4; // right of the whisker
        cv.rect(mid + dx - 2, Y(v) - 2, mid + dx + 2, Y(v) + 2, COLORS[name].dot);
      });
    });
    cv.text(left + (g + 0.5) * groupWidth, bottom + 10, group, AXIS, { align: 'center' });
  });
  const rule = left + split * groupWidth;
  for (let y = top; y < bottom; y += 12) cv.line(rule, y, rule, y + 5, AXIS);
  cv.line(left, top, left, bottom, AXIS);
  cv.line(left, bottom, right, bottom, AXIS);
}

/**
 * PNG bytes. runs: { ce, cflnet, focal }: per seed { seen: { iou, byKind }, unseen: { iou, byKind } }.
 */
export function plotGeneralization(runs, { seeds, steps, size, batch }) {
  const width = 1000,
    height = 860;
  const cv = new Canvas(width, height);
  cv.text(80, 12, `held-out IoU over ${seeds} seeds: ${steps} steps, batch ${batch}, ${size}x${size}`, BLACK);
  cv.text(80, 34, 'bar: mean, whisker: +- 1 sd, dots: one per seed', AXIS);
  let x = 80;
  for (const name of Object.keys(runs)) {
    cv.rect(x, 60, x + 20, 72, COLORS[name].bar);
    cv.text(x + 28, 60, COLORS[name].label, COLORS[name].dot);
    x += 28 + COLORS[name].label.length * 12 + 40;
  }
  const box = (top) => ({ left: 80, right: width - 30, top, bottom: top + 280 });
  panel(
    cv,
    box(140),
    'by split: manipulations seen in training, and unseen',
    ['seen', 'unseen'],
    runs,
    (r, s) => r[s].iou,
  );
  panel(
    cv,
    box(520),
    'by manipulation (left of the rule: seen in training, right: unseen)',
    [...SEEN, ...UNSEEN],
    runs,
    (r, k) => r.seen.byKind[k] ?? r.unseen.byKind[k],
    SEEN.length,
  );
  return cv.png();
}
