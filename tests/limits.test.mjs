// Hard limits (issue 10.3). Before any work the engine computes the wasm memory a call needs (per
// image for the contrastive losses, which is what one worker holds) and refuses with a RangeError
// naming the limit when it cannot fit: maxMemoryBytes or wasm32's 4 GiB (the kernels' arena has no
// per-buffer limit). It then reserves that memory up front, so the kernels
// never grow it themselves: a runtime that refuses the memory gives a RangeError, never a trap.
//
// The estimates are checked against the real memory on fresh engines: WebAssembly.Memory's grow
// method is observed, so the test sees the size the engine reserved (from JavaScript) and any growth
// the kernels did on their own (the wasm memory.grow instruction, which the observer never sees).
// An estimate below the real use shows up as memory beyond the reservation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { pkg } from './helpers/engine.mjs';
import { materialize } from './fuzz/materialize.mjs';
import { checkCase } from './fuzz/property.mjs';

const MiB = 2 ** 20;
const PAGE = 65536;

/** JavaScript-side grows of every WebAssembly.Memory: { memory, bytes } after each. */
const grows = [];
const realGrow = WebAssembly.Memory.prototype.grow;
let refuseGrow = false;
WebAssembly.Memory.prototype.grow = function grow(delta) {
  if (refuseGrow) throw new RangeError('WebAssembly.Memory.grow(): test refuses to grow');
  const out = realGrow.call(this, delta);
  grows.push({ memory: this, bytes: this.buffer.byteLength });
  return out;
};
after(() => {
  WebAssembly.Memory.prototype.grow = realGrow;
});

const engines = [];
after(() => Promise.all(engines.map((e) => e.dispose())));
async function fresh(options = {}) {
  const e = await pkg.createEngine({ wasmBuild: 'simd', ...options });
  engines.push(e);
  return e;
}

const features = (kind = 'gaussian') => ({
  kind,
  scale: 0,
  zero: 0.05,
  tiny: 0,
  small: 0,
  huge: 0,
  dup: 0.1,
  pixelNoise: 0.1,
  seed: 7,
});
const mask = (kind = 'blob') => ({ kind, seed: 3, uint8: false });
const ce = (B, C, H, W, extra = {}) => ({
  loss: 'crossEntropy',
  B,
  C,
  H,
  W,
  target: 'int32',
  probs: 'softmax',
  weight: 'positive',
  ignore: 'default',
  ignoredFraction: 0.3,
  reduction: 'mean',
  labelSmoothing: 0.1,
  logitScale: 0,
  grad: true,
  seed: 5,
  ...extra,
});
const pc = (B, C, p, kh, kw, extra = {}) => ({
  loss: 'patchContrast',
  B,
  C,
  p,
  kh,
  kw,
  H: p * kh,
  W: p * kw,
  variant: 'exact',
  temperature: 0.1,
  mask: mask(),
  features: features(),
  grad: true,
  defaults: false,
  ...extra,
});
const nce = (B, C, H, W, extra = {}) => ({
  loss: 'infoNCE',
  B,
  C,
  H,
  W,
  positive: 'mean-logit',
  temperature: 0.1,
  sample: { kind: 'all' },
  mask: mask(),
  features: features(),
  grad: true,
  defaults: false,
  ...extra,
});
const cfl = (B, C, p, kh, kw, extra = {}) => ({
  loss: 'cflObjective',
  B,
  C,
  p,
  kh,
  kw,
  H: p * kh,
  W: p * kw,
  temperature: 0.1,
  weight: null,
  alpha: null,
  logitScale: 0,
  mask: mask(),
  features: features(),
  grad: true,
  seed: 9,
  ...extra,
});

// Varied shapes: many small rows (N large, C small: the per-row terms dominate), wide rows (C large),
// odd sizes, every target type and reduction, grad on and off, both positives, sampled dictionaries.
const SHAPES = [
  ['crossEntropy int32 mean', ce(2, 3, 64, 60)],
  ['crossEntropy uint8 none, no grad', ce(4, 7, 33, 47, { target: 'uint8', reduction: 'none', grad: false })],
  ['crossEntropy uint16, C = 40 (histogram path)', ce(1, 40, 64, 64, { target: 'uint16', ignore: '255' })],
  ['crossEntropy probabilities sum', ce(3, 5, 50, 41, { target: 'probs', reduction: 'sum' })],
  ['patchContrast N = 4096, C = 1', pc(1, 1, 1, 64, 64)],
  ['patchContrast N = 4096, C = 3, cflnet, no grad', pc(2, 3, 1, 64, 64, { variant: 'cflnet', grad: false })],
  ['patchContrast N = 256, C = 64', pc(2, 64, 4, 16, 16, { variant: 'cflnet' })],
  ['patchContrast N = 15, C = 9, p = 5', pc(3, 9, 5, 3, 5)],
  ['patchContrast one patch', pc(1, 17, 8, 1, 1)],
  ['infoNCE 64 × 64, C = 1, mean-exp', nce(1, 1, 64, 64, { positive: 'mean-exp' })],
  ['infoNCE 64 × 64, C = 2, mean-logit', nce(2, 2, 64, 64)],
  ['infoNCE 48 × 40, C = 64, mean-exp, no grad', nce(1, 64, 48, 40, { positive: 'mean-exp', grad: false })],
  [
    'infoNCE seeded 100 per class, C = 33',
    nce(4, 33, 32, 32, { sample: { kind: 'seeded', maxPerClass: 100, seed: 3 } }),
  ],
  ['infoNCE skipped images (all pristine)', nce(2, 8, 32, 32, { mask: mask('zeros') })],
  ['cflObjective N = 1024, C = 4', cfl(2, 4, 2, 32, 32)],
  ['cflObjective N = 64, C = 48', cfl(1, 48, 8, 8, 8)],
];

/** The end of the last non-zero byte of a memory: a lower bound of what has been written. */
function touched(memory) {
  const bytes = new Uint8Array(memory.buffer);
  let i = bytes.length - 1;
  while (i >= 0 && bytes[i] === 0) i--;
  return i + 1;
}

/** Where the kernels' static data ends (the arena starts just above): a bare instance's last byte. */
const staticDataEnd = touched(
  (await WebAssembly.instantiate(readFileSync(new URL('../dist/kernels.simd.wasm', import.meta.url)), {})).instance
    .exports.memory,
);

/** The engine's own estimate (exact bytes, from the refusal of an engine whose limit is 1 byte). */
async function estimateOf(fn, options) {
  const tiny = await fresh({ maxMemoryBytes: 1 });
  try {
    await tiny[fn](options);
  } catch (error) {
    const m = /needs about [\d.]+ [KMG]iB \((\d+) bytes\) of wasm memory/.exec(error?.message ?? '');
    if (m) return Number(m[1]);
    throw error;
  }
  throw new Error(`${fn}: an engine with maxMemoryBytes 1 accepted the call`);
}

test('the memory estimate covers what every call really uses (fresh engines, varied shapes)', async (t) => {
  for (const [name, d] of SHAPES) {
    const { fn, options } = materialize(d);
    const estimate = await estimateOf(fn, options);
    const e = await fresh();
    // The engine's two instances start alike; the second (a sync call's while an async one runs) stays so.
    const initial = e.memoryBytes() / 2;
    grows.length = 0;
    await e[fn](options);
    const memory = grows.length ? grows[0].memory : null;
    const reserved = grows.length ? grows[grows.length - 1].bytes : initial;
    // 1. The kernels never grew the memory past what the engine reserved from its estimate.
    assert.equal(
      e.memoryBytes() - initial,
      reserved,
      `${name}: the kernels grew the memory past the engine's reservation of ${reserved} bytes to ${e.memoryBytes()}: the estimate is too small`,
    );
    if (memory) {
      // 2. Byte-exact where the top of the arena has been written: static data + estimate covers it.
      const used = touched(memory) - staticDataEnd;
      assert.ok(used <= estimate, `${name}: ${used} bytes of the arena were written, over the estimate of ${estimate}`);
      assert.ok(
        reserved >= staticDataEnd + estimate && reserved < staticDataEnd + estimate + PAGE + 64,
        `${name}: the reservation (${reserved}) is not the estimate (${estimate})`,
      );
      t.diagnostic(
        `${name}: estimate ${(estimate / MiB).toFixed(3)} MiB, written ≥ ${(used / MiB).toFixed(3)} MiB (estimate/written ${(estimate / used).toFixed(3)})`,
      );
    } else {
      t.diagnostic(`${name}: estimate ${(estimate / MiB).toFixed(3)} MiB, within the initial memory`);
    }
    // 3. A second identical call on the same engine needs nothing more.
    await e[fn](options);
    assert.equal(e.memoryBytes() - initial, reserved, `${name}: a second call grew the memory`);
  }
});

test('maxMemoryBytes (1 MiB): a call that cannot fit is refused before any work, naming the limit', async () => {
  const e = await fresh({ maxMemoryBytes: MiB });
  const before = e.memoryBytes();
  for (const d of [ce(4, 16, 64, 64), pc(1, 64, 2, 32, 32), nce(1, 64, 64, 64), cfl(1, 64, 2, 32, 32)]) {
    const { fn, options } = materialize(d);
    await assert.rejects(e[fn](options), (err) => {
      assert.ok(err instanceof RangeError, `${fn}: ${err?.constructor?.name}: ${err?.message}`);
      assert.match(
        err.message,
        /needs about [\d.]+ [KMG]iB \(\d+ bytes\) of wasm memory, over the limit of 1 MiB \(1048576 bytes\) \(maxMemoryBytes/,
      );
      return true;
    });
  }
  assert.equal(e.memoryBytes(), before, 'a refused call must not grow the memory');
  // The engine goes on, and a call that fits is computed correctly.
  await checkCase([e], pc(2, 8, 4, 4, 4));
  await checkCase([e], nce(2, 4, 8, 8));
});

test('beyond 4 GiB: refused with a RangeError naming the wasm32 limit, not a trap', async () => {
  const e = await fresh();
  // One image of 4096 × 4608 patches (p = 1, C = 1): its rows need about 4.7 GiB; the inputs are small.
  const [B, C, H, W] = [1, 1, 4096, 4608];
  const features = new Float32Array(B * C * H * W),
    mask = new Float32Array(B * H * W);
  await assert.rejects(e.patchContrast({ features, mask, shape: [B, C, H, W], patchSize: 1 }), (err) => {
    assert.ok(err instanceof RangeError, `${err?.constructor?.name}: ${err?.message}`);
    assert.match(
      err.message,
      /patchContrast \(one image\) needs about [\d.]+ GiB \(\d+ bytes\) of wasm memory, over the limit of 4 GiB \(4294836224 bytes\) \(maxMemoryBytes, at most 4 GiB for wasm32\)/,
    );
    return true;
  });
  await checkCase([e], pc(1, 3, 2, 5, 3));
});

test('one buffer past 1 GiB is no limit of its own (the arena has none); an image never sits in it whole', async () => {
  // A 65,536-patch image (docs/design.md §4) at the benchmark's C = 256 (1024 × 1024, p = 4): its
  // features are 1 GiB, which pass through the arena a few channels at a time (runtime/wasm/patch-tasks.ts),
  // so the estimate, read from the refusal of an engine with a small limit, is a fraction of that.
  // The inputs are never touched, so these arrays cost no real memory.
  const big = new Float32Array(256 * 1024 * 1024),
    bigMask = new Float32Array(1024 * 1024);
  const tiny = await fresh({ maxMemoryBytes: 2 ** 27 });
  const err = await tiny.patchContrast({ features: big, mask: bigMask, shape: [1, 256, 1024, 1024] }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof RangeError, String(err));
  const bytes = Number(/needs about [\d.]+ [KMG]iB \((\d+) bytes\)/.exec(err.message)?.[1]);
  // Z and its packed forms alone: 65,536 rows × 256 channels × 4 bytes, 3 times over.
  assert.ok(bytes > 3 * 2 ** 26 && bytes < 2 ** 29, `estimate ${bytes} bytes`);
  const small = await fresh({ maxMemoryBytes: 2 ** 30 });
  // crossEntropy copies the logits into one buffer: 2 × 8192 × 16385 float32 is just over 1 GiB.
  const [B, C, H, W] = [1, 2, 8192, 16385];
  const logits = new Float32Array(B * C * H * W),
    target = new Int32Array(B * H * W);
  const ceErr = await small.crossEntropy({ logits, target, shape: [B, C, H, W] }).then(
    () => null,
    (e) => e,
  );
  assert.match(String(ceErr?.message), /over the limit of 1 GiB \(1073741824 bytes\) \(maxMemoryBytes/);
  await checkCase([small], ce(2, 3, 7, 9));
});

test('the 65,536-patch image at C = 256 runs (opt-in: about 3 GB of RAM and a minute or two)', {
  skip: process.env.FORGERY_BIG_MEMORY ? false : 'set FORGERY_BIG_MEMORY=1 to run',
}, async () => {
  const e = await fresh();
  const features = new Float32Array(256 * 1024 * 1024).map(
    (_, i) => Math.sin(i * 0.001) + ((i * 2654435761) % 1000) / 1000,
  );
  const mask = new Float32Array(1024 * 1024).map((_, k) => (k >> 10 < 400 && (k & 1023) < 400 ? 1 : 0));
  const r = await e.patchContrast({ features, mask, shape: [1, 256, 1024, 1024], grad: false });
  assert.equal(r.perPatchLoss.length, 65536);
  assert.ok(Number.isFinite(r.loss) && r.loss > 0);
});

test('a runtime that refuses to grow the memory gives a RangeError before any work, and the engine recovers', async () => {
  const e = await fresh();
  for (const d of [pc(2, 16, 2, 16, 16), nce(2, 16, 32, 32), ce(2, 16, 64, 64)]) {
    const { fn, options } = materialize(d);
    refuseGrow = true;
    try {
      await assert.rejects(e[fn](options), (err) => {
        assert.ok(err instanceof RangeError, `${fn}: ${err?.constructor?.name}: ${err?.message}`);
        assert.match(
          err.message,
          /needs about [\d.]+ [KMG]iB \(\d+ bytes\) of wasm memory, and the runtime refused to grow the memory to it/,
        );
        return true;
      });
    } finally {
      refuseGrow = false;
    }
    await checkCase([e], d);
  }
});

test('threads: 2 — limits are checked in the calling thread, before any job reaches a worker', async () => {
  const e = await fresh({ threads: 2, maxMemoryBytes: MiB });
  const { fn, options } = materialize(pc(4, 64, 2, 32, 32));
  await assert.rejects(e[fn](options), /over the limit of 1 MiB \(1048576 bytes\) \(maxMemoryBytes/);
  await checkCase([e], pc(3, 8, 4, 4, 4, { variant: 'cflnet' }));
  await checkCase([e], nce(3, 8, 8, 8, { positive: 'mean-exp' }));
});

test('addresses past 2 GiB (opt-in: about 4 GB of RAM)', {
  skip: process.env.FORGERY_BIG_MEMORY ? false : 'set FORGERY_BIG_MEMORY=1 to run (needs about 4 GB of RAM)',
}, async () => {
  // Logits and probabilities of just under 1 GiB each: the per-element losses start past 2 GiB in
  // wasm memory. The arena's addresses come back from wasm as
  // signed i32, so before the fix this call did all its work and then failed with "Start offset
  // -2147478288 is outside the bounds of the buffer"; and a memory grown to exactly 4 GiB by the
  // allocator's doubling left every later call trapping.
  const e = await fresh();
  const [B, C, H, W] = [1, 3, 6235, 14351];
  const targetProbs = new Float32Array(B * C * H * W).fill(1 / 3);
  const r = await e.crossEntropy({
    logits: new Float32Array(B * C * H * W),
    targetProbs,
    shape: [B, C, H, W],
    reduction: 'none',
    grad: false,
  });
  assert.equal(r.loss.length, B * H * W);
  for (let i = 0; i < r.loss.length; i += 9973)
    assert.ok(Math.abs(r.loss[i] - Math.log(3)) < 1e-6, `loss[${i}] = ${r.loss[i]}`);
  assert.ok(e.memoryBytes() < 4 * 2 ** 30, 'the memory stays below 4 GiB');
  await checkCase([e], ce(2, 3, 7, 9));
});
