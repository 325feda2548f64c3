// One image on every thread (docs/design.md §9): the similarity passes of an image run as parts,
// fixed ranges of strips that any worker may run, merged in part order. With a small part size
// (the test entry's engines) these modest images split into many parts, so that the checks run in seconds:
// B = 1 and B < threads give the same bits on 1, 2 and 3 threads, and still match the float64
// reference with the tolerances of docs/spec.md §8; so do 60 random shapes and class splits (one
// class only, a few patches of one, fractional mask values) cut into parts of a few thousand units.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as testing from '../build/testing.js';
import { assertArrayClose, assertClose, assertGradClose } from './helpers/compare.mjs';
import { blobMask, gaussian } from './helpers/engine.mjs';
import { mulberry32 } from './fuzz/materialize.mjs';
import { infoNCERef, patchContrastRef } from './reference/index.mjs';

const PART_WORK = 2 ** 18;
const engines = await Promise.all(
  [1, 2, 3].map((threads) => testing.createEngine({ threads, wasmBuild: 'simd' }, { partWork: PART_WORK })),
);
// Parts of a few thousand units: even the smallest of the random images splits.
const tiny = await Promise.all(
  [1, 3].map((threads) => testing.createEngine({ threads, wasmBuild: 'simd' }, { partWork: 2 ** 12 })),
);
// No room for dZ slots: an image in bands has its parts' dZ summed by the calling thread.
const unslotted = await testing.createEngine(
  { threads: 2, wasmBuild: 'simd' },
  { partWork: PART_WORK, maxSlotFloats: 0 },
);
// Features copied at call time and pooled in tasks (as on an engine that may route to WebGPU).
const copying = await Promise.all(
  [2, 3].map((threads) =>
    testing.createEngine({ threads, wasmBuild: 'simd' }, { partWork: PART_WORK, poolAtCall: false }),
  ),
);
after(() => Promise.all([...engines, ...tiny, unslotted, ...copying].map((e) => e.dispose())));

const CASES = [
  { loss: 'patchContrast', shape: [1, 24, 64, 48], options: { variant: 'exact', patchSize: 2 } },
  { loss: 'patchContrast', shape: [1, 24, 64, 48], options: { variant: 'cflnet', patchSize: 2 } },
  { loss: 'patchContrast', shape: [2, 16, 48, 48], options: { variant: 'exact', patchSize: 2 } },
  { loss: 'infoNCE', shape: [1, 20, 40, 40], options: { positive: 'mean-logit' } },
  { loss: 'infoNCE', shape: [1, 20, 40, 40], options: { positive: 'mean-exp' } },
  { loss: 'infoNCE', shape: [2, 12, 32, 32], options: { positive: 'mean-exp', sample: { maxPerClass: 300, seed: 5 } } },
];

function inputs({ shape }, seed) {
  const [b, c, h, w] = shape;
  return { features: gaussian(b * c * h * w, seed, 0.7), mask: blobMask(b, h, w, seed + 1), shape };
}

/** The job the wrappers make for image 0, as the planner sees it. */
function jobOf({ loss, shape, options }, mask) {
  const [b, c, h, w] = shape;
  const hw = h * w;
  const common = {
    features: { length: c * hw },
    c,
    grad: true,
    maxParts: testing.partsPerImage(b),
    partWork: PART_WORK,
  };
  if (loss === 'patchContrast') {
    const labels = testing.patchLabels(mask.subarray(0, hw), h, w, 2);
    const { pristine } = testing.rowMap(labels, 8);
    return { kind: 'patchContrast', ...common, labels, pristine, h, w, patchSize: 2, variant: 0 };
  }
  const pristine = mask.subarray(0, hw).filter((v) => v === 0).length;
  const forged = mask.subarray(0, hw).filter((v) => v === 1).length;
  const max = options.sample?.maxPerClass ?? Infinity;
  return {
    kind: 'infoNCE',
    ...common,
    used: true,
    queries: { length: Math.min(max, pristine) },
    negatives: { length: Math.min(max, forged) },
    positive: options.positive === 'mean-exp' ? 1 : 0,
  };
}

for (const [index, kase] of CASES.entries()) {
  const name = `${kase.loss} ${JSON.stringify(kase.options)} on ${kase.shape.join('×')}`;
  test(`${name}: split into parts, the same bits on 1, 2 and 3 threads, within tolerance`, async () => {
    const input = inputs(kase, 40 + 10 * index);
    for (const pass of testing.planParts(jobOf(kase, input.mask)))
      assert.ok(pass.length >= 3, `only ${pass.length} parts: the test would not exercise the split`);
    const [one, two, three] = await Promise.all(engines.map((e) => e[kase.loss]({ ...input, ...kase.options })));
    assert.deepEqual(two, { ...one, backend: two.backend });
    assert.deepEqual(three, { ...one, backend: three.backend });
    const sample =
      kase.options.sample &&
      testing.drawInfoNCESample({ mask: input.mask, shape: input.shape, ...kase.options.sample });
    const ref = (kase.loss === 'patchContrast' ? patchContrastRef : infoNCERef)({ ...input, ...kase.options, sample });
    assertClose(one.loss, ref.loss, `${name} loss`);
    if (kase.loss === 'patchContrast') assertArrayClose(one.perPatchLoss, ref.perPatchLoss, `${name} perPatchLoss`);
    assertGradClose(one.grad.features, ref.grad, `${name} grad`);
  });
}

test('fewer images than threads: each is back-propagated (and, copied, pooled) in bands, on every worker', async () => {
  for (const [kase, bands] of [
    [CASES[0], 2],
    [CASES[1], 3],
    [CASES[2], 2],
  ]) {
    const threads = kase === CASES[0] ? 2 : 3;
    // Pooled at call time: only the backward pass is left to the bands; copied: the pooling too.
    for (const [engine, kinds] of [
      [engines[threads - 1], ['patchBackward']],
      [copying[threads - 2], ['patchPool', 'patchBackward']],
    ]) {
      const records = testing.traceTasks(engine);
      const input = inputs(kase, 70);
      const [b] = kase.shape;
      const got = await engine.patchContrast({
        ...input,
        ...kase.options,
        gradInto: { features: new Float32Array(input.features.length) },
      });
      if (kinds.length === 1) assert.equal(records.filter((r) => r.kind === 'patchPool').length, 0, 'pooled at call');
      for (const kind of kinds) {
        const tasks = records.filter((r) => r.kind === kind);
        assert.equal(tasks.length, b * bands, `${kind}: ${bands} bands per image`);
        // One image's bands start together on idle workers; two images' tasks interleave as they come.
        if (b === 1) assert.equal(new Set(tasks.map((r) => r.worker)).size, bands, `${kind}: one band per worker`);
        // The bands write into and read from the image's Z and dZ in shared memory: nothing between copies rows.
        for (const r of tasks) assert.equal(r.operands, 'shared', `${kind}: the image's Z (and dZ) shared`);
      }
      const one = await engines[0].patchContrast({ ...input, ...kase.options });
      assert.deepEqual(got, { ...one, backend: got.backend });
      // Summed from the slots by the bands, or by the calling thread: the same bits.
      assert.deepEqual(await unslotted.patchContrast({ ...input, ...kase.options }), got);
    }
  }
});

/** `count` tasks of `kind` among `records`, each with its operands (what it reads or writes) in shared memory. */
function assertSharedTasks(records, kind, count, what) {
  const tasks = records.filter((r) => r.kind === kind);
  assert.equal(tasks.length, count, what);
  for (const r of tasks) assert.equal(r.operands, 'shared', `${kind}: operands`);
}

test('a batch on a pool: its parts leave their dZ in slots, which one backward task per image sums', async () => {
  const kase = CASES[2];
  const [b] = kase.shape;
  const records = testing.traceTasks(engines[1]);
  const input = inputs(kase, 72);
  const got = await engines[1].patchContrast({ ...input, ...kase.options });
  // The task reads the image's Z and every part's slot in shared memory: nothing sums rows on the calling thread.
  assertSharedTasks(records, 'patchBackward', b, 'one backward task per image (B = threads: no bands)');
  const one = await engines[0].patchContrast({ ...input, ...kase.options });
  assert.deepEqual(got, { ...one, backend: got.backend });
  assert.deepEqual(await unslotted.patchContrast({ ...input, ...kase.options }), got);
});

test('infoNCE on a pool: U and X gathered into shared memory; dU and dX left in slots that the backward task sums', async () => {
  for (const kase of [CASES[4], CASES[5]]) {
    const [b] = kase.shape;
    const input = inputs(kase, 73);
    const records = testing.traceTasks(engines[1]);
    const got = await engines[1].infoNCE({ ...input, ...kase.options });
    // The gathering writes U and X where the parts read them: the calling thread copies neither.
    assertSharedTasks(records, 'nceGather', b, 'one gathering task per image');
    // The backward task reads every part's slot in shared memory: nothing sums gradient rows here.
    assertSharedTasks(records, 'nceBackward', b, 'one backward task per image');
    const one = await engines[0].infoNCE({ ...input, ...kase.options });
    assert.deepEqual(got, { ...one, backend: got.backend });
    // Summed from the slots by the backward task, or by the calling thread: the same bits.
    assert.deepEqual(await unslotted.infoNCE({ ...input, ...kase.options }), got);
    assert.deepEqual(engines[1].infoNCESync({ ...input, ...kase.options }), got);
  }
});

test('with workers, the parts bring their operands in shared memory: no message copies them', async () => {
  const [, two] = engines;
  for (const kase of CASES) {
    const records = testing.traceTasks(two);
    const input = inputs(kase, 71);
    const got = await two[kase.loss]({ ...input, ...kase.options });
    const carrying = records.filter((r) => r.operands);
    // Each worker gets an image's operands with its first part of that image.
    assert.ok(carrying.length >= 2, `${kase.loss}: ${carrying.length} parts brought operands`);
    for (const r of carrying) assert.equal(r.operands, 'shared', `${r.kind} ${r.stage}`);
    // Once every part has answered, the copies may serve a later call (recycle.ts): the same bits again.
    assert.deepEqual(await two[kase.loss]({ ...input, ...kase.options }), got);
  }
});

test('an abort while parts run on every worker stops the call; the next call is exact', async () => {
  const kase = CASES[0];
  const input = inputs(kase, 40);
  const [, two] = engines;
  const expected = await two.patchContrast({ ...input, ...kase.options });
  const controller = new AbortController();
  const call = two.patchContrast({
    ...input,
    ...kase.options,
    signal: controller.signal,
    onProgress: (done, total) => {
      if (done > total / 3) controller.abort();
    },
  });
  await assert.rejects(call, { name: 'AbortError' });
  assert.deepEqual(await two.patchContrast({ ...input, ...kase.options }), expected);
});

test('random shapes and class splits, split into parts: 1 and 3 threads agree to the bit and with the reference', async () => {
  const [one, three] = tiny;
  for (let seed = 1; seed <= 60; seed++) await randomCase(seed, one, three);
});

/** One random case (shape, class split, loss and options drawn from `seed`) on 1 and 3 threads. */
async function randomCase(seed, one, three) {
  const r = mulberry32(seed);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const p = [1, 2, 4][int(0, 2)];
  const shape = [int(1, 3), int(1, 20), p * int(1, 12), p * int(1, 12)];
  const [b, c, h, w] = shape;
  // All pristine, all forged, a few forged, or mixed with fractional values.
  const mode = int(0, 3);
  const mask = Float32Array.from({ length: b * h * w }, () => {
    const u = r();
    return [0, 1, u < 0.03 ? 1 : 0, u < 0.5 ? 1 : u < 0.55 ? 0.5 : 0][mode];
  });
  const features = gaussian(b * c * h * w, seed, 0.5 + 2 * r());
  const loss = r() < 0.5 ? 'patchContrast' : 'infoNCE';
  const options =
    loss === 'patchContrast'
      ? { variant: r() < 0.5 ? 'exact' : 'cflnet', patchSize: p, temperature: 0.05 + r() }
      : { positive: r() < 0.5 ? 'mean-logit' : 'mean-exp', temperature: 0.05 + r() };
  const input = { features, mask, shape, ...options };
  const what = `seed ${seed}: ${loss} ${JSON.stringify(options)} on ${shape.join('×')}`;
  const [x, y] = await Promise.all([one[loss](input), three[loss](input)]);
  assert.deepEqual(y, { ...x, backend: y.backend }, what);
  const ref = (loss === 'patchContrast' ? patchContrastRef : infoNCERef)(input);
  assertClose(x.loss, ref.loss, `${what} loss`);
  assertGradClose(x.grad.features, ref.grad, `${what} grad`);
}
