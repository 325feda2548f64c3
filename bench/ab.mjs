// Before and after a change, in one run: the package of two dist/ folders timed alternately, round
// after round, on the same cases (bench/run-package.mjs, value + gradient, gradInto), so that the
// shared machine's drift falls on both alike. Prints each round's medians and, per case, the
// median over rounds of after ÷ before (below 1: the change is faster).
//   node bench/ab.mjs --before DIST --after DIST [--case pc1,nce-full,nce,ce] [--threads 1,2]
//                     [--build simd|relaxed-simd] [--rounds N] [--runs N] [--small] [--markdown FILE]
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageArgv } from './processes.mjs';

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string' },
    case: { type: 'string', default: 'ce,pc1,nce,nce-full' },
    threads: { type: 'string', default: '1,2' },
    build: { type: 'string', default: 'simd' },
    rounds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    small: { type: 'boolean', default: false },
    markdown: { type: 'string' },
  },
});
if (!args.before || !args.after) throw new Error('usage: node bench/ab.mjs --before DIST --after DIST [options]');
const VARIANTS = {
  ce: ['mean'],
  pc: ['exact'],
  pc1: ['exact', 'cflnet'],
  nce: ['mean-logit'],
  'nce-full': ['mean-logit', 'mean-exp'],
};
/** One timing of a case by the package in `dist`: its median ms. */
function time(dist, name, variant, threads) {
  const argv = packageArgv({ name, variant, build: args.build, threads, runs: args.runs, small: args.small });
  const r = spawnSync(process.execPath, argv, {
    encoding: 'utf8',
    env: { ...process.env, FL_BENCH_DIST: resolve(dist) },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`${name} ${variant} (${dist}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)).median_ms;
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const name of args.case.split(','))
  for (const variant of VARIANTS[name])
    for (const threads of args.threads.split(',').map(Number)) {
      const before = [],
        after = [];
      for (let round = 0; round < Number(args.rounds); round++) {
        // Alternated, and the order swapped each round.
        const pair = round % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
        for (const which of pair) (which === 'before' ? before : after).push(time(args[which], name, variant, threads));
      }
      const ratios = before.map((b, i) => after[i] / b);
      const row = { case: name, variant, threads, before, after, ratio: median(ratios) };
      console.error(JSON.stringify(row));
      rows.push(row);
    }

const ms = (xs) => xs.map((v) => v.toFixed(v < 10 ? 2 : 1)).join(', ');
const table = [
  `Build ${args.build}, Node ${process.version}; ${args.rounds} rounds alternated; medians of ${args.runs} runs a round (ms).`,
  '',
  '| case | variant | threads | before (each round) | after (each round) | after ÷ before (median) |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) => `| ${r.case} | ${r.variant} | ${r.threads} | ${ms(r.before)} | ${ms(r.after)} | ${r.ratio.toFixed(3)} |`,
  ),
].join('\n');
console.log(table);
if (args.markdown) writeFileSync(args.markdown, `${table}\n`);
