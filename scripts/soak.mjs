#!/usr/bin/env node
// Leak soak of the built package (issue 10.4): 10,000 sequential mixed calls on one engine (every
// loss and variant, grad on and off, refused calls among them), then 1,000 create/dispose cycles
// (every fourth engine with 2 worker threads). Prints the engine's wasm memory and the process's
// RSS, JS heap and external memory (after a full GC) at intervals, and exits 1 if, after warm-up,
// the wasm memory changes at all, or RSS grows by more than 24 MiB or the JS heap by more than
// 8 MiB (judged on the lowest of the last third of the samples: a leak lifts them all).
// `npm run soak` (add `-- --calls N --cycles N --threads T` to change the run).
import { runSoak } from '../tests/helpers/soak.mjs';

const args = { calls: 10_000, cycles: 1_000, threads: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in args) || !Number.isInteger(Number(argv[i + 1]))) {
    console.error('usage: node scripts/soak.mjs [--calls N] [--cycles N] [--threads T]');
    process.exit(2);
  }
  args[key] = Number(argv[i + 1]);
}

const started = performance.now();
const seconds = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
console.log(
  `soak: ${args.calls} mixed calls on one engine (threads ${args.threads}), then ${args.cycles} create/dispose cycles`,
);
const { ok, failures, report } = await runSoak({
  ...args,
  every: Math.max(1, Math.round(args.calls / 20)),
  everyCycle: Math.max(1, Math.round(args.cycles / 10)),
  log: (line) => console.log(`  [${seconds()}] ${line}`),
});
for (const line of report) console.log(line);
if (!ok) {
  for (const f of failures) console.log(`LEAK: ${f}`);
  process.exitCode = 1;
} else console.log(`no growth beyond the tolerances (${seconds()})`);
