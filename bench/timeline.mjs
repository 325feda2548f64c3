// Where a call's time goes with workers: one benchmark case through the package (value + gradient
// into gradInto), its tasks recorded as the calling thread hands them out and gets their replies
// (src/testing.ts traceTasks). Of the median of the traced calls it prints one JSON line:
//   input_ms   call → first task handed out (validation, the finite scan, the copies of the inputs);
//   output_ms  last reply → the promise settles (the gradient copied into gradInto, the results);
//   all_ms / some_ms / none_ms  between the two: time with every worker busy, with some idle (a
//              stage that runs on one worker: pooling, gathering, the backward pass, a pass's last
//              part), and with none busy (the calling thread between a reply and the next task);
//   work_ms    the workers' time per task kind and stage, summed (handed out → reply).
// A worker counts as busy from the moment its task is handed out until its reply arrives. Runs
// build/testing.js (the package with its test hooks), or the copy beside $FL_BENCH_DIST when set.
//   node [--experimental-wasm-relaxed-simd] bench/timeline.mjs <case> <variant> <simd|relaxed-simd> [threads] [--small]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeCase } from '../support/cases.mjs';

const dist = process.env.FL_BENCH_DIST;
const { createEngine, traceTasks } = await import(
  dist ? pathToFileURL(join(dist, '..', 'build', 'testing.js')).href : '../build/testing.js'
);

const [name, variant, build, threadsArg = '2'] = process.argv.slice(2);
const c = makeCase(name, { small: process.argv.includes('--small') });
const threads = Number(threadsArg);
const engine = await createEngine({ wasmBuild: build, threads });
if (!(threads >= 2) || c.loss === 'cross_entropy')
  throw new Error('timeline: a contrastive case and 2 or more threads');
const gradInto = { features: new Float32Array(c.features.length) };
const common = { features: c.features, mask: c.mask, shape: c.shape, temperature: c.temperature, gradInto };
const call = () =>
  c.loss === 'patch_contrast'
    ? engine.patchContrast({ ...common, variant, patchSize: c.patchSize })
    : engine.infoNCE({ ...common, positive: variant, sample: c.sample });

for (let i = 0; i < 3; i++) await call(); // warm: the workers, their wasm code and the reused copies
const records = traceTasks(engine);
const calls = [];
for (let i = 0; i < 5; i++) {
  const from = records.length;
  const start = performance.now();
  await call();
  calls.push({ start, end: performance.now(), tasks: records.slice(from) });
}
await engine.dispose();

/** The split of one call's time (see the header). */
function account({ start, end, tasks }) {
  const first = Math.min(...tasks.map((t) => t.posted)),
    last = Math.max(...tasks.map((t) => t.answered));
  // Sweep the busy intervals: at each moment, how many workers are busy.
  const edges = tasks.flatMap((t) => [
    [t.posted, 1],
    [t.answered, -1],
  ]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let busy = 0,
    at = first;
  const by = { all: 0, some: 0, none: 0 };
  for (const [time, step] of edges) {
    by[busy >= threads ? 'all' : busy > 0 ? 'some' : 'none'] += time - at;
    busy += step;
    at = time;
  }
  const work = {};
  for (const t of tasks) {
    const key = t.stage ? `${t.kind} ${t.stage}` : t.kind;
    work[key] = (work[key] ?? 0) + (t.answered - t.posted);
  }
  const ms = (v) => Number(v.toFixed(1));
  return {
    call_ms: ms(end - start),
    input_ms: ms(first - start),
    output_ms: ms(end - last),
    all_ms: ms(by.all),
    some_ms: ms(by.some),
    none_ms: ms(by.none),
    tasks: tasks.length,
    work_ms: Object.fromEntries(Object.entries(work).map(([k, v]) => [k, ms(v)])),
  };
}

const median = calls.map(account).sort((a, b) => a.call_ms - b.call_ms)[calls.length >> 1];
console.log(JSON.stringify({ case: name, variant, build, threads, ...median }));
