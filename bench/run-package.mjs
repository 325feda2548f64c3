// Times this package on one benchmark case in a fresh process (so that the wasm build and the
// threads are what the parent asked for): benchmark.js, value + gradient, and prints one JSON line
// { case, variant, build, threads, loss, median_ms, mean_ms, runs }. The gradient goes into an array
// allocated once (gradInto), as in a training loop. With --sync, the engine's sync method (the same
// plan, run to completion while the thread waits for its workers). Loads the package from
// $FL_BENCH_DIST (bench/compare.mjs's snapshot of dist/) when set, else from dist/.
//   node [--experimental-wasm-relaxed-simd] bench/run-package.mjs <case> <variant> <simd|relaxed-simd> <threads> [runs] [--small] [--sync]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Benchmark from 'benchmark';
import { makeCase } from '../support/cases.mjs';

const dist = process.env.FL_BENCH_DIST;
const { createEngine } = await import(dist ? pathToFileURL(join(dist, 'index.js')).href : '../dist/index.js');

const [name, variant, build, threadsArg, runsArg = '5'] = process.argv.slice(2);
const small = process.argv.includes('--small');
const sync = process.argv.includes('--sync');
const c = makeCase(name, { small });
const engine = await createEngine({ wasmBuild: build, threads: Number(threadsArg) });

// As a training loop calls it: the gradient goes into an array allocated once (gradInto).
const gradInto =
  c.loss === 'cross_entropy'
    ? { logits: new Float32Array(c.logits.length) }
    : { features: new Float32Array(c.features.length) };

/** The package call of a case and variant, as a user would write it (a promise either way). */
async function call() {
  const { shape, mask, features, temperature } = c;
  const method = (name) => (sync ? engine[`${name}Sync`] : engine[name]).bind(engine);
  if (c.loss === 'cross_entropy')
    return method('crossEntropy')({ logits: c.logits, target: c.target, shape, weight: c.weight, gradInto });
  if (c.loss === 'patch_contrast')
    return method('patchContrast')({ features, mask, shape, patchSize: c.patchSize, temperature, variant, gradInto });
  return method('infoNCE')({ features, mask, shape, temperature, positive: variant, sample: c.sample, gradInto });
}

const first = await call();
// A millisecond call (ce) warms up before benchmark.js times it, as PyTorch's does (compare.mjs):
// the optimizing tier, and memory the runtime has recycled.
if (c.loss === 'cross_entropy') for (let i = 1; i < 40; i++) await call();
const runs = Number(runsArg);
const bench = new Benchmark(`${name} ${variant}`, {
  defer: true,
  minSamples: runs,
  // Long calls: one call a cycle, `runs` samples; short ones (ce): benchmark.js's own cycles.
  maxTime: c.loss === 'cross_entropy' ? 3 : 0.1,
  initCount: 1,
  fn: (deferred) => call().then(() => deferred.resolve()),
});
await new Promise((resolve) => bench.on('complete', resolve).run());
const sample = [...bench.stats.sample].sort((a, b) => a - b);
const median = sample[Math.floor(sample.length / 2)];
console.log(
  JSON.stringify({
    case: name,
    variant,
    build: first.backend,
    threads: sync ? engine.info.syncThreads : engine.info.threads,
    sync,
    loss: first.loss,
    median_ms: median * 1e3,
    mean_ms: bench.stats.mean * 1e3,
    rme: bench.stats.rme,
    runs: sample.length,
  }),
);
await engine.dispose();
