// Issue 29's scaling check, its four timings interleaved: for one case, round after round, the
// 1-thread call (async and sync), the 2-thread call (async and sync) and two processes each running
// the 1-thread async call at once (bench/run-package.mjs, value + gradient, gradInto). Each round
// gives the machine's two-process gain g = 2·t1 ÷ (the pair's mean time) and each 2-thread
// speed-up t1 ÷ t2 as a fraction of g; the medians over rounds follow. bench/compare.mjs measures
// the pair minutes after the rows it divides, so the machine's drift between them falls on the
// fraction; here the four timings of a round are taken within seconds of each other.
//   node bench/scaling.mjs <case> <variant> [--build simd|relaxed-simd] [--rounds N] [--runs N] [--small]
import { parseArgs } from 'node:util';
import { json, jsonPair, packageArgv } from './processes.mjs';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    build: { type: 'string', default: 'simd' },
    rounds: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    small: { type: 'boolean', default: false },
  },
});
const [name, variant] = positionals;
if (!name || !variant) throw new Error('usage: node bench/scaling.mjs <case> <variant> [options]');
const argv = (threads, sync) =>
  packageArgv({ name, variant, build: args.build, threads, runs: args.runs, small: args.small, sync });
/** One call's median time, in a fresh process. */
const time = (threads, sync) => json(process.execPath, argv(threads, sync))[0].median_ms;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (v) => Number(v.toFixed(1));

const rounds = [];
for (let i = 0; i < Number(args.rounds); i++) {
  const t1 = time(1, false),
    t1s = time(1, true);
  const pair = await jsonPair(process.execPath, argv(1, false));
  const t2 = time(2, false),
    t2s = time(2, true);
  const gain = (2 * t1) / ((pair[0].median_ms + pair[1].median_ms) / 2);
  const round = { t1, t1s, pair: pair.map((r) => r.median_ms), t2, t2s, gain };
  round.async = t1 / t2 / gain;
  round.sync = t1s / t2s / gain;
  rounds.push(round);
  console.error(
    `round ${i + 1}: t1 ${ms(t1)} / ${ms(t1s)} ms, pair ${round.pair.map(ms).join(', ')} ms, t2 ${ms(t2)} / ${ms(t2s)} ms, ` +
      `gain ${gain.toFixed(2)}×, async ${round.async.toFixed(2)}, sync ${round.sync.toFixed(2)}`,
  );
}
console.log(
  JSON.stringify({
    case: name,
    variant,
    build: args.build,
    node: process.version,
    rounds: rounds.length,
    gain: Number(median(rounds.map((r) => r.gain)).toFixed(3)),
    async: Number(median(rounds.map((r) => r.async)).toFixed(3)),
    sync: Number(median(rounds.map((r) => r.sync)).toFixed(3)),
    asyncEach: rounds.map((r) => Number(r.async.toFixed(3))),
    syncEach: rounds.map((r) => Number(r.sync.toFixed(3))),
  }),
);
