// Leak soak (issue 10.4), shared by scripts/soak.mjs (the full run) and tests/soak.test.mjs (a
// short one): many sequential mixed calls on one engine, then many create/dispose cycles, sampling
// the engine's wasm memory and the process's memory at intervals. After warm-up the wasm memory
// must not change at all (the arena is reset after every call and only grows for a larger call,
// and the inputs repeat), and the process memory must stay within a stated tolerance: the lowest of
// the last third of the samples (a leak lifts every one of them; the GC's wobble does not) may
// exceed the sample at the end of warm-up by at most 24 MiB of RSS and 8 MiB of JS heap.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { pkg } from './engine.mjs';
import { materialize } from '../fuzz/materialize.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

const MiB = 2 ** 20;

const features = (kind, seed) => ({
  kind,
  scale: 0,
  zero: 0.05,
  tiny: 0.02,
  small: 0,
  huge: 0.02,
  dup: 0.1,
  pixelNoise: 0.1,
  seed,
});
const mask = (kind, seed) => ({ kind, seed, uint8: seed % 2 === 0 });

/** The repeating mix: every loss, variant, target kind, reduction, sampling form, grad on and off. */
const MIX = [
  {
    loss: 'crossEntropy',
    B: 4,
    C: 8,
    H: 64,
    W: 64,
    target: 'int32',
    probs: 'softmax',
    weight: 'positive',
    ignore: 'default',
    ignoredFraction: 0.3,
    reduction: 'mean',
    labelSmoothing: 0.1,
    logitScale: 0,
    grad: true,
    seed: 1,
  },
  {
    loss: 'crossEntropy',
    B: 2,
    C: 2,
    H: 48,
    W: 40,
    target: 'uint8',
    probs: 'softmax',
    weight: 'none',
    ignore: '255',
    ignoredFraction: 0.1,
    reduction: 'none',
    labelSmoothing: 0,
    logitScale: 0.5,
    grad: true,
    seed: 2,
  },
  {
    loss: 'crossEntropy',
    B: 3,
    C: 5,
    H: 32,
    W: 32,
    target: 'probs',
    probs: 'softmax',
    weight: 'ones',
    ignore: 'default',
    ignoredFraction: 0,
    reduction: 'sum',
    labelSmoothing: 0.2,
    logitScale: 0,
    grad: false,
    seed: 3,
  },
  {
    loss: 'crossEntropy',
    B: 1,
    C: 3,
    H: 16,
    W: 16,
    target: 'int32',
    probs: 'softmax',
    weight: 'none',
    ignore: 'default',
    ignoredFraction: 1,
    reduction: 'mean',
    labelSmoothing: 0,
    logitScale: 0,
    grad: true,
    seed: 4,
  },
  {
    loss: 'patchContrast',
    B: 2,
    C: 16,
    p: 4,
    kh: 8,
    kw: 8,
    H: 32,
    W: 32,
    variant: 'exact',
    temperature: 0.1,
    mask: mask('blob', 1),
    features: features('smooth', 1),
    grad: true,
    defaults: false,
  },
  {
    loss: 'patchContrast',
    B: 1,
    C: 32,
    p: 2,
    kh: 32,
    kw: 32,
    H: 64,
    W: 64,
    variant: 'cflnet',
    temperature: 0.1,
    mask: mask('blob', 2),
    features: features('gaussian', 2),
    grad: true,
    defaults: false,
  },
  {
    loss: 'patchContrast',
    B: 3,
    C: 8,
    p: 3,
    kh: 5,
    kw: 7,
    H: 15,
    W: 21,
    variant: 'exact',
    temperature: 0.5,
    mask: mask('ties', 3),
    features: features('clustered', 3),
    grad: false,
    defaults: false,
  },
  {
    loss: 'infoNCE',
    B: 2,
    C: 16,
    H: 32,
    W: 32,
    positive: 'mean-logit',
    temperature: 0.1,
    sample: { kind: 'all' },
    mask: mask('blob', 4),
    features: features('smooth', 4),
    grad: true,
    defaults: false,
  },
  {
    loss: 'infoNCE',
    B: 2,
    C: 16,
    H: 32,
    W: 32,
    positive: 'mean-exp',
    temperature: 0.1,
    sample: { kind: 'seeded', maxPerClass: 100, seed: 5 },
    mask: mask('random', 5),
    features: features('gaussian', 5),
    grad: true,
    defaults: false,
  },
  {
    loss: 'infoNCE',
    B: 4,
    C: 8,
    H: 16,
    W: 24,
    positive: 'mean-exp',
    temperature: 0.2,
    sample: { kind: 'explicit', sizes: 'random', seed: 6 },
    mask: mask('mixed', 6),
    features: features('fewDistinct', 6),
    grad: false,
    defaults: false,
  },
  {
    loss: 'cflObjective',
    B: 2,
    C: 16,
    p: 4,
    kh: 8,
    kw: 8,
    H: 32,
    W: 32,
    temperature: 0.1,
    weight: null,
    alpha: null,
    logitScale: 0,
    mask: mask('fractional', 7),
    features: features('smooth', 7),
    grad: true,
    seed: 7,
  },
  {
    loss: 'cflObjective',
    B: 1,
    C: 4,
    p: 2,
    kh: 6,
    kw: 10,
    H: 12,
    W: 20,
    temperature: 0.07,
    weight: [0.3, 0.7],
    alpha: 0.5,
    logitScale: 0,
    mask: mask('blob', 8),
    features: features('gaussian', 8),
    grad: false,
    seed: 8,
  },
];

/** The calls of the mix, materialized once; plus refused calls (a NaN feature, a bad patch size). */
export function soakCalls() {
  const calls = MIX.map((d) => materialize(d));
  const bad = materialize(MIX[4]);
  const nan = bad.options.features.slice();
  nan[5] = Number.NaN;
  calls.push({ fn: 'patchContrast', options: { ...bad.options, features: nan }, refused: RangeError });
  calls.push({ fn: 'infoNCE', options: { ...materialize(MIX[7]).options, temperature: 0 }, refused: RangeError });
  calls.push({
    fn: 'crossEntropy',
    options: { ...materialize(MIX[0]).options, shape: [4, 8, 64] },
    refused: TypeError,
  });
  return calls;
}

async function call(engine, { fn, options, refused }, retained) {
  try {
    const result = await engine[fn](options);
    retained?.push(result);
  } catch (error) {
    if (refused && error instanceof refused) return;
    throw error;
  }
  if (refused) throw new Error(`${fn}: an invalid call was not refused`);
}

/** Process memory after a full garbage collection. */
function sample(engine) {
  gc();
  const m = process.memoryUsage();
  return { wasm: engine ? engine.memoryBytes() : 0, rss: m.rss, heap: m.heapUsed, external: m.external };
}

const grew = (bytes) => `${bytes >= 0 ? '+' : '−'}${(Math.abs(bytes) / MiB).toFixed(1)} MiB`;

export const fmt = (s) =>
  `wasm ${(s.wasm / MiB).toFixed(2)} MiB, rss ${(s.rss / MiB).toFixed(1)} MiB, heap ${(s.heap / MiB).toFixed(1)} MiB, external ${(s.external / MiB).toFixed(1)} MiB`;

/**
 * Runs `calls` mixed calls on one engine with `threads`, sampling every `every` calls, then `cycles`
 * create/dispose cycles (every fourth with 2 threads), sampling every `everyCycle`. `log(line)`
 * receives the samples. Returns { ok, report } where report lists the growth after warm-up.
 */
export async function runSoak({
  calls = 10_000,
  cycles = 1_000,
  threads = 1,
  every = 500,
  everyCycle = 100,
  warmupCalls,
  warmupCycles,
  rssTolerance = 24 * MiB,
  heapTolerance = 8 * MiB,
  log = () => {},
  leak = false,
}) {
  // leak: keep every result alive (a negative control: the soak must notice).
  const retained = leak ? [] : undefined;
  const mix = soakCalls();
  // Worker threads (threads > 1) warm up their own isolates (code, heaps) over the first ~1,500 calls.
  warmupCalls ??= Math.round(Math.min(calls / 4, Math.max(10 * mix.length, 2_000)));
  warmupCycles ??= Math.min(cycles / 4, 50);
  const failures = [];
  const report = [];

  // Phase 1: sequential mixed calls on one engine.
  const engine = await pkg.createEngine({ wasmBuild: 'simd', threads });
  let base;
  const samples = [];
  try {
    for (let i = 1; i <= calls; i++) {
      await call(engine, mix[(i - 1) % mix.length], retained);
      if (i === warmupCalls) {
        base = sample(engine);
        log(`calls ${i} (end of warm-up): ${fmt(base)}`);
      } else if (i % every === 0 || i === calls) {
        const s = sample(engine);
        samples.push(s);
        log(`calls ${i}: ${fmt(s)}`);
      }
    }
  } finally {
    await engine.dispose();
  }
  const last = samples.at(-1);
  const peak = (list, k) => Math.max(...list.map((s) => s[k]));
  // A leak grows steadily; the allocator and the GC make the process memory wobble. So the verdict
  // takes the lowest of the last third of the samples (a leak lifts all of them), the report the peak.
  const settled = (list, k) => Math.min(...list.slice(-Math.max(2, Math.ceil(list.length / 3))).map((s) => s[k]));
  const describe = (what, list, b) =>
    `${what}: rss ${grew(settled(list, 'rss') - b.rss)} at the end (peak ${grew(peak(list, 'rss') - b.rss)}; tolerance ${rssTolerance / MiB} MiB), heap ${grew(settled(list, 'heap') - b.heap)} (peak ${grew(peak(list, 'heap') - b.heap)}; tolerance ${heapTolerance / MiB} MiB)`;
  report.push(`calls: wasm ${base.wasm} → ${last.wasm} bytes (must not change); ${describe('process', samples, base)}`);
  if (samples.some((s) => s.wasm !== base.wasm))
    failures.push(`wasm memory changed after warm-up: ${base.wasm} → ${samples.map((s) => s.wasm).join(', ')}`);
  if (settled(samples, 'rss') - base.rss > rssTolerance)
    failures.push(`rss grew by ${grew(settled(samples, 'rss') - base.rss)} over the calls`);
  if (settled(samples, 'heap') - base.heap > heapTolerance)
    failures.push(`JS heap grew by ${grew(settled(samples, 'heap') - base.heap)} over the calls`);

  if (cycles === 0) return { ok: failures.length === 0, failures, report };

  // Phase 2: create / one call / dispose cycles.
  let cycleBase;
  const cycleSamples = [];
  for (let i = 1; i <= cycles; i++) {
    const e = await pkg.createEngine({ wasmBuild: 'simd', threads: i % 4 === 0 ? 2 : 1 });
    try {
      await call(e, mix[(i - 1) % mix.length]);
    } finally {
      await e.dispose();
    }
    if (i === warmupCycles) {
      cycleBase = sample(null);
      log(`cycles ${i} (end of warm-up): ${fmt(cycleBase)}`);
    } else if (i % everyCycle === 0 || i === cycles) {
      // Terminated workers release their memory asynchronously: give them a moment.
      await new Promise((resolve) => setTimeout(resolve, 100));
      gc();
      const s = sample(null);
      cycleSamples.push(s);
      log(`cycles ${i}: ${fmt(s)}`);
    }
  }
  report.push(describe('cycles', cycleSamples, cycleBase));
  if (settled(cycleSamples, 'rss') - cycleBase.rss > rssTolerance)
    failures.push(`rss grew by ${grew(settled(cycleSamples, 'rss') - cycleBase.rss)} over the create/dispose cycles`);
  if (settled(cycleSamples, 'heap') - cycleBase.heap > heapTolerance)
    failures.push(
      `JS heap grew by ${grew(settled(cycleSamples, 'heap') - cycleBase.heap)} over the create/dispose cycles`,
    );
  return { ok: failures.length === 0, failures, report };
}
