// The summary of a generalization run: the lines printed after training (means and sds over the
// seeds, per manipulation, the heads' second localizer, paired differences with 95 % t-intervals)
// and the final JSON object.
//
// runs: { [method]: per seed { seen, unseen, alt: { seen, unseen } } }, each split's summary
// { iou, f1, byKind } from evaluate.mjs.

import { meanCi95, meanSd } from '../stats.mjs';
import { SEEN, UNSEEN } from './data.mjs';

const SPLITS = ['seen', 'unseen'];
const PAIRS = [
  ['cflnet', 'ce'],
  ['focal', 'ce'],
  ['focal', 'cflnet'],
];

const fmt = ({ mean, sd }) => `${mean.toFixed(3)} ± ${sd.toFixed(3)}`;
const ci = ({ mean, ci95 }, signed = true) =>
  `${signed && mean >= 0 ? '+' : ''}${mean.toFixed(3)} [${ci95.map((v) => (v === null ? 'n/a' : v.toFixed(3))).join(', ')}]`;

/** The printed summary, one string per line. */
export function reportLines(runs) {
  const names = Object.keys(runs),
    seeds = runs[names[0]].length;
  const over = (name, pick) => runs[name].map(pick);
  const drop = (r) => r.seen.iou - r.unseen.iou;
  const lines = [`held-out IoU and F1, mean ± sd over ${seeds} seeds:`];
  for (const name of names)
    lines.push(
      `  ${name.padEnd(7)}${SPLITS.map((s) => `${s} IoU ${fmt(meanSd(over(name, (r) => r[s].iou)))}, F1 ${fmt(meanSd(over(name, (r) => r[s].f1)))}`).join('; ')}`,
    );
  lines.push('IoU by manipulation, mean ± sd over seeds:');
  for (const name of names)
    lines.push(
      `  ${name.padEnd(7)}${[...SEEN, ...UNSEEN].map((k) => `${k} ${fmt(meanSd(over(name, (r) => r.seen.byKind[k] ?? r.unseen.byKind[k])))}`).join(', ')}`,
    );
  lines.push('the heads localized by 2-means of the margin instead of argmax (IoU, mean ± sd):');
  for (const name of names.filter((n) => runs[n][0].alt.seen))
    lines.push(
      `  ${name.padEnd(7)}${SPLITS.map((s) => `${s} ${fmt(meanSd(over(name, (r) => r.alt[s].iou)))}`).join(', ')}`,
    );
  lines.push('paired over seeds, mean [95 % t-interval]:');
  for (const name of names)
    lines.push(
      `  ${name.padEnd(7)}seen − unseen IoU ${ci(meanCi95(over(name, drop)))}, unseen / seen IoU ${ci(meanCi95(over(name, (r) => r.unseen.iou / r.seen.iou)), false)}`,
    );
  for (const [a, b] of PAIRS.filter(([a, b]) => runs[a] && runs[b])) {
    const diff = (pick) => ci(meanCi95(runs[a].map((r, i) => pick(r) - pick(runs[b][i]))));
    lines.push(
      `  ${a} − ${b}: ${SPLITS.map((s) => `${s} IoU ${diff((r) => r[s].iou)}`).join(', ')}, seen − unseen drop ${diff(drop)}`,
    );
  }
  return lines;
}

/** The last line's object, without "seconds": IoU mean and sd per method and split, F1 inside. */
export function resultObject(runs) {
  const names = Object.keys(runs);
  const stat = (name, pick) => meanSd(runs[name].map(pick));
  return {
    seeds: runs[names[0]].length,
    methods: Object.fromEntries(
      names.map((name) => [
        name,
        Object.fromEntries(SPLITS.map((s) => [s, { ...stat(name, (r) => r[s].iou), f1: stat(name, (r) => r[s].f1) }])),
      ]),
    ),
  };
}
