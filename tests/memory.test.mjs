// Memory stays O(N·C): no N × N similarity matrix exists. A 16,384-patch image (16 channels,
// 512 × 512, patch 4) and a full-dictionary InfoNCE map of 32,768 × 32,768 pairs run in a wasm
// memory far below what one N × N float32 matrix would need (1 GiB and 4 GiB), and repeated
// calls do not grow it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blobMask, gaussian, pkg } from './helpers/engine.mjs';

const MiB = 2 ** 20;

test('patchContrast on 16,384 patches (16 × 512 × 512, p = 4) stays under 64 MiB of wasm memory', async () => {
  const e = await pkg.createEngine({ wasmBuild: 'simd' });
  const [B, C, H, W] = [1, 16, 512, 512];
  const features = gaussian(B * C * H * W, 1),
    mask = blobMask(B, H, W, 2);
  const r = await e.patchContrast({ features, mask, shape: [B, C, H, W], variant: 'exact' });
  assert.equal(r.perPatchLoss.length, 16384);
  assert.ok(Number.isFinite(r.loss) && r.loss > 0);
  const wasm = e.memoryBytes();
  await e.patchContrast({ features, mask, shape: [B, C, H, W], variant: 'cflnet' });
  assert.equal(e.memoryBytes(), wasm, 'a second call reuses the same memory');
  console.log(
    `# patchContrast 16,384 patches: wasm memory ${(wasm / MiB).toFixed(1)} MiB, process RSS ${(process.memoryUsage().rss / MiB).toFixed(0)} MiB`,
  );
  assert.ok(wasm < 64 * MiB, `wasm memory ${wasm / MiB} MiB`);
});

test('infoNCE with a full dictionary of 32,768 × 32,768 pairs (16 × 256 × 256) stays under 64 MiB', async () => {
  const e = await pkg.createEngine({ wasmBuild: 'simd' });
  const [B, C, H, W] = [1, 16, 256, 256];
  const features = gaussian(B * C * H * W, 3);
  const mask = new Float32Array(H * W).map((_, k) => (k < (H * W) / 2 ? 0 : 1));
  const r = await e.infoNCE({ features, mask, shape: [B, C, H, W] });
  assert.deepEqual(r.queryCounts, [[32768, 32768]]);
  assert.ok(Number.isFinite(r.loss) && r.loss > 0);
  const wasm = e.memoryBytes();
  console.log(
    `# infoNCE 32,768 × 32,768: wasm memory ${(wasm / MiB).toFixed(1)} MiB, process RSS ${(process.memoryUsage().rss / MiB).toFixed(0)} MiB`,
  );
  assert.ok(wasm < 64 * MiB, `wasm memory ${wasm / MiB} MiB`);
});

test('a call that cannot fit maxMemoryBytes is refused before any work, and the engine goes on', async () => {
  const e = await pkg.createEngine({ wasmBuild: 'simd', maxMemoryBytes: 4 * MiB });
  // 4,096 patches of 64 channels: Z and its packed forms alone take 3 MiB.
  const [B, C, H, W] = [1, 64, 256, 256];
  const features = gaussian(B * C * H * W, 3),
    mask = blobMask(B, H, W, 4);
  await assert.rejects(
    e.patchContrast({ features, mask, shape: [B, C, H, W] }),
    (err) => err instanceof RangeError && /maxMemoryBytes/.test(err.message),
  );
  const small = await e.patchContrast({
    features: features.subarray(0, C * 32 * 32),
    mask: mask.subarray(0, 32 * 32),
    shape: [1, C, 32, 32],
  });
  assert.ok(Number.isFinite(small.loss));
});
