// Times the TF.js-wasm composition of one benchmark case (bench/baselines/tfjs-losses.mjs) in a fresh
// process: value + gradient, median of `runs` after one warm-up; prints one JSON line.
//   node bench/run-tfjs.mjs <case> <variant> [runs] [--small]
import { createRequire } from 'node:module';
import { makeCase } from '../support/cases.mjs';
import { initTF, runCaseTF } from './baselines/tfjs-losses.mjs';

const [name, variant, runsArg = '3'] = process.argv.slice(2);
const c = makeCase(name, { small: process.argv.includes('--small') });
await initTF();
const first = runCaseTF(c, variant);
const times = [];
for (let i = 0; i < Number(runsArg); i++) {
  const t = performance.now();
  runCaseTF(c, variant);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const version = createRequire(import.meta.url)('@tensorflow/tfjs-core/package.json').version;
console.log(
  JSON.stringify({
    case: name,
    variant,
    loss: first.loss,
    median_ms: times[Math.floor(times.length / 2)],
    runs: times.length,
    version,
  }),
);
