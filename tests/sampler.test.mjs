// The seeded infoNCE sampler: documented generator, deterministic, distinct pixels of the right
// class, min(count, maxPerClass) of each, and the loss equals the explicit-list call on the same pixels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from './fuzz/materialize.mjs';
import { blobMask, engine, gaussian, pkg } from './helpers/engine.mjs';

const [B, C, H, W] = [3, 8, 24, 20];
const mask = blobMask(B, H, W, 9);
mask[5] = 0.5; // neither class: never drawn

function expectedDraw(b, seed, max) {
  const rand = mulberry32((seed + 0x9e3779b9 * b) % 2 ** 32);
  const draw = (cls) => {
    const a = [];
    for (let k = 0; k < H * W; k++) if (mask[b * H * W + k] === cls) a.push(k);
    const k = Math.min(a.length, max);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rand() * (a.length - i));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a.slice(0, k);
  };
  const pristine = draw(0);
  return { pristine, forged: draw(1) };
}

test('the draw follows docs/spec.md §5.4: mulberry32 per image, pristine then forged, partial Fisher–Yates', () => {
  for (const [seed, max] of [
    [0, 10],
    [12345, 50],
    [0xffffffff, 1000],
  ]) {
    const s = pkg.drawInfoNCESample({ mask, shape: [B, C, H, W], maxPerClass: max, seed });
    for (let b = 0; b < B; b++) {
      const want = expectedDraw(b, seed, max);
      assert.deepEqual(Array.from(s.pristine[b]), want.pristine, `pristine image ${b} seed ${seed}`);
      assert.deepEqual(Array.from(s.forged[b]), want.forged, `forged image ${b} seed ${seed}`);
    }
  }
});

test('draws are distinct, of the right class, min(count, maxPerClass) long, and repeatable', () => {
  const a = pkg.drawInfoNCESample({ mask, shape: [B, C, H, W], maxPerClass: 40, seed: 7 });
  const again = pkg.drawInfoNCESample({ mask, shape: [B, C, H, W], maxPerClass: 40, seed: 7 });
  const other = pkg.drawInfoNCESample({ mask, shape: [B, C, H, W], maxPerClass: 40, seed: 8 });
  assert.deepEqual(a, again);
  assert.notDeepEqual(a.pristine[0], other.pristine[0]);
  for (let b = 0; b < B; b++) {
    for (const [list, cls] of [
      [a.pristine[b], 0],
      [a.forged[b], 1],
    ]) {
      const count = mask.subarray(b * H * W, (b + 1) * H * W).filter((v) => v === cls).length;
      assert.equal(list.length, Math.min(count, 40));
      assert.equal(new Set(list).size, list.length, 'distinct');
      for (const k of list) assert.equal(mask[b * H * W + k], cls);
    }
  }
});

test('a seeded call equals the explicit-list call on the drawn pixels, bit for bit', async () => {
  const e = await engine();
  const features = gaussian(B * C * H * W, 21);
  for (const positive of ['mean-logit', 'mean-exp']) {
    const seeded = await e.infoNCE({
      features,
      mask,
      shape: [B, C, H, W],
      positive,
      sample: { maxPerClass: 30, seed: 5 },
    });
    const drawn = pkg.drawInfoNCESample({ mask, shape: [B, C, H, W], maxPerClass: 30, seed: 5 });
    const explicit = await e.infoNCE({ features, mask, shape: [B, C, H, W], positive, sample: drawn });
    assert.equal(seeded.loss, explicit.loss);
    assert.deepEqual(seeded.queryCounts, explicit.queryCounts);
    assert.deepEqual(seeded.grad.features, explicit.grad.features);
    assert.deepEqual(
      seeded.queryCounts,
      drawn.pristine.map((p, b) => [p.length, drawn.forged[b].length]),
    );
  }
});
