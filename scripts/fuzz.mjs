#!/usr/bin/env node
// Differential fuzzing of the built package (dist/) against the float64 reference (tests/reference):
// random shapes, masks, features and options (tests/fuzz/arbitraries.mjs), checked case by case
// (tests/fuzz/property.mjs) on engines with 1 and 2 threads. `npm run fuzz -- --runs N --seed S`.
//
//   --runs N        cases to draw (default 2000)
//   --seed S        fast-check seed (default: random, printed)
//   --budget B      reference work per case (default 2e7; the test suite uses 1.5e6)
//   --threads 1,2   engine thread counts (every case runs on each; results must be bit-identical)
//   --path P        replay one counterexample: with --seed, the path a failure printed
//   --case JSON     run one descriptor (as printed by a failure) without fast-check
//   --strict        fail on known kernel bugs too (tests/fuzz/property.mjs KNOWN_KERNEL_BUGS)
//   --wasm-build B  'simd' (default) or 'relaxed-simd'
//
// Exit status 1 on a failure, after printing the seed, the shrunk case and a replay command.
import fc from 'fast-check';
import * as pkg from '../dist/index.js';
import { fuzzArb } from '../tests/fuzz/arbitraries.mjs';
import { runItem } from '../tests/fuzz/property.mjs';

function parseArgs(argv) {
  const args = {
    runs: 2000,
    seed: undefined,
    budget: 2e7,
    threads: [1, 2],
    path: undefined,
    case: undefined,
    strict: false,
    wasmBuild: 'simd',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i],
      v = () => {
        if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
        return argv[++i];
      };
    if (a === '--runs') args.runs = Number(v());
    else if (a === '--seed') args.seed = Number(v());
    else if (a === '--budget') args.budget = Number(v());
    else if (a === '--threads') args.threads = v().split(',').map(Number);
    else if (a === '--path') args.path = v();
    else if (a === '--case') args.case = JSON.parse(v());
    else if (a === '--strict') args.strict = true;
    else if (a === '--wasm-build') args.wasmBuild = v();
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: node scripts/fuzz.mjs [--runs N] [--seed S] [--budget B] [--threads 1,2] [--path P] [--case JSON] [--strict] [--wasm-build simd|relaxed-simd]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(Number.isInteger(args.runs) && args.runs > 0)) throw new Error('--runs must be a positive integer');
  if (args.seed !== undefined && !Number.isInteger(args.seed)) throw new Error('--seed must be an integer');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const seed = args.seed ?? (Math.random() * 2 ** 31) | 0;
const engines = await Promise.all(
  args.threads.map((threads) => pkg.createEngine({ threads, wasmBuild: args.wasmBuild })),
);
const backend = engines[0].info.backend;

const stats = { cases: 0, arms: {}, losses: {}, noise: 0, known: {}, illConditioned: 0 };
const illExamples = [];
const firstKnown = {};
const started = performance.now();
let lastReport = started;

async function one(item) {
  const out = await runItem(engines, item, { strict: args.strict });
  stats.cases++;
  stats.arms[out.arm] = (stats.arms[out.arm] ?? 0) + 1;
  stats.losses[out.loss] = (stats.losses[out.loss] ?? 0) + 1;
  if (out.noise) stats.noise++;
  if (out.illConditioned) {
    stats.illConditioned++;
    if (illExamples.length < 3) illExamples.push([item, out.illConditioned]);
  }
  if (out.known) {
    stats.known[out.known] = (stats.known[out.known] ?? 0) + 1;
    firstKnown[out.known] ??= item;
  }
  const now = performance.now();
  if (now - lastReport > 15_000) {
    lastReport = now;
    console.log(`  ${stats.cases} cases, ${((now - started) / 1000).toFixed(0)} s`);
  }
}

const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
let failed = false;
console.log(
  `fuzz: seed ${seed}, runs ${args.runs}, budget ${args.budget}, threads ${args.threads.join(',')}, ${backend}`,
);
try {
  if (args.case) {
    const item = 'arm' in args.case ? args.case : { arm: 'valid', x: args.case };
    await one(item);
    console.log('case passed');
  } else {
    const details = await fc.check(fc.asyncProperty(fuzzArb({ budget: args.budget }), one), {
      seed,
      numRuns: args.runs,
      path: args.path,
    });
    if (details.failed) {
      failed = true;
      const [item] = details.counterexample ?? [];
      const error = details.errorInstance;
      console.log(
        `\nFAILED after ${details.numRuns} cases (${details.numShrinks} shrinks): seed ${details.seed}, path ${details.counterexamplePath}`,
      );
      console.log(`error: ${error?.stack ?? error}`);
      console.log(`case: ${JSON.stringify(item)}`);
      console.log('replay:');
      console.log(
        `  node scripts/fuzz.mjs --seed ${details.seed} --path ${q(details.counterexamplePath)} --threads ${args.threads.join(',')} --budget ${args.budget}`,
      );
      console.log(`  node scripts/fuzz.mjs --case ${q(JSON.stringify(item))} --threads ${args.threads.join(',')}`);
    }
  }
} finally {
  await Promise.all(engines.map((e) => e.dispose()));
}

const secs = (performance.now() - started) / 1000;
console.log(
  `\n${stats.cases} cases in ${secs.toFixed(1)} s (seed ${seed}): arms ${JSON.stringify(stats.arms)}, losses ${JSON.stringify(stats.losses)}, exact-zero gradients ${stats.noise}, ill-conditioned in float32 (not compared) ${stats.illConditioned}`,
);
for (const [item, why] of illExamples) console.log(`ill-conditioned: ${why}\n  ${JSON.stringify(item)}`);
for (const [name, count] of Object.entries(stats.known)) {
  console.log(
    `known kernel bug ${name}: ${count} case(s); first: node scripts/fuzz.mjs --strict --case ${q(JSON.stringify(firstKnown[name]))}`,
  );
}
process.exitCode = failed ? 1 : 0;
