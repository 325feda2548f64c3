// The worker pool: results bit-identical for threads 1, 2 and 3 on every golden case, concurrent
// calls each get their own result, a worker that dies fails only its call and is replaced,
// and dispose ends the workers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, test } from 'node:test';
import { blobMask, gaussian, LOSS_FN, pkg, rng } from './helpers/engine.mjs';
import { loadCases, optionsOf } from './helpers/golden.mjs';

const engines = await Promise.all([1, 2, 3].map((threads) => pkg.createEngine({ threads, wasmBuild: 'simd' })));
after(() => Promise.all(engines.map((e) => e.dispose())));

test('engines report the threads they run', () => {
  assert.deepEqual(
    engines.map((e) => e.info.threads),
    [1, 2, 3],
  );
});

test('every golden case gives bit-identical results with 1, 2 and 3 threads', async () => {
  for (const loss of ['patch_contrast', 'info_nce', 'cfl_objective', 'cross_entropy']) {
    for (const c of loadCases(loss)) {
      const [one, two, three] = await Promise.all(engines.map((e) => e[LOSS_FN[loss]](optionsOf(c))));
      assert.deepEqual(two, one, `${c.name}: threads 2`);
      assert.deepEqual(three, one, `${c.name}: threads 3`);
    }
  }
});

function mixedCalls(count) {
  const [B, C, H, W] = [3, 12, 16, 24];
  const r = rng(99);
  return Array.from({ length: count }, (_, i) => {
    const features = gaussian(B * C * H * W, 100 + i),
      mask = blobMask(B, H, W, 200 + i);
    const kind = i % 4;
    if (kind === 0)
      return ['patchContrast', { features, mask, shape: [B, C, H, W], variant: i % 8 ? 'exact' : 'cflnet' }];
    if (kind === 1)
      return ['infoNCE', { features, mask, shape: [B, C, H, W], positive: i % 3 ? 'mean-logit' : 'mean-exp' }];
    if (kind === 2)
      return ['cflObjective', { features, mask, logits: gaussian(B * 2 * H * W, 300 + i), shape: [B, C, H, W] }];
    const target = Int32Array.from({ length: B * H * W }, () => Math.floor(r() * 3));
    return ['crossEntropy', { logits: gaussian(B * 3 * H * W, 400 + i), target, shape: [B, 3, H, W] }];
  });
}

test('20 interleaved calls of mixed losses on one engine each get their own result', async () => {
  const calls = mixedCalls(20);
  const sequential = [];
  for (const [fn, options] of calls) sequential.push(await engines[0][fn](options));
  const concurrent = await Promise.all(calls.map(([fn, options]) => engines[1][fn](options)));
  concurrent.forEach((result, i) => {
    assert.deepEqual(result, sequential[i], `call ${i} (${calls[i][0]})`);
  });
});

test('a worker that dies mid-call rejects that call; the pool replaces it and goes on', async () => {
  // The test-only entry (src/testing.ts) can kill a worker; the published package cannot.
  const testing = await import('../build/testing.js');
  const e = await testing.createEngine({ threads: 2, wasmBuild: 'simd' });
  const [B, C, H, W] = [4, 64, 64, 64];
  const options = {
    features: gaussian(B * C * H * W, 5),
    mask: blobMask(B, H, W, 6),
    shape: [B, C, H, W],
    positive: 'mean-exp',
  };
  testing.crashWorkerOnNextJob(e);
  const pending = e.infoNCE(options);
  await assert.rejects(pending, /a worker died during the call/);
  const again = await e.infoNCE(options);
  const reference = await engines[0].infoNCE(options);
  assert.deepEqual(again, reference);
  assert.equal(e.info.threads, 2);
  await e.dispose();
  await assert.rejects(e.infoNCE(options), /disposed/);
});

test('a NaN feature is named on a threaded engine (checked as the call is made), and the pool goes on', async () => {
  const [B, C, H, W] = [2, 4, 8, 8];
  const features = gaussian(B * C * H * W, 1);
  features[C * H * W + 5] = Number.NaN;
  await assert.rejects(
    engines[1].patchContrast({ features, mask: blobMask(B, H, W), shape: [B, C, H, W] }),
    (err) => err instanceof RangeError && /features\[261\] = NaN/.test(err.message),
  );
  features[C * H * W + 5] = 0;
  const ok = await engines[1].patchContrast({ features, mask: blobMask(B, H, W), shape: [B, C, H, W] });
  assert.ok(Number.isFinite(ok.loss));
});

test('a process with a threaded engine exits, disposed or not', () => {
  const script = `
    import { createEngine } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
    const e = await createEngine({ threads: 2 });
    const f = new Float32Array(2 * 4 * 8 * 8).fill(1).map((v, i) => Math.sin(i));
    const m = new Float32Array(2 * 8 * 8).map((_, i) => i % 3 === 0 ? 1 : 0);
    const r = await e.patchContrast({ features: f, mask: m, shape: [2, 4, 8, 8] });
    console.log('threads', e.info.threads, 'loss', r.loss);
    if (process.argv[1] === 'dispose') await e.dispose();
  `;
  for (const mode of ['dispose', 'keep']) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, mode], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, `${mode}: ${r.stderr}`);
    assert.match(r.stdout, /threads 2 loss \d/);
  }
});
