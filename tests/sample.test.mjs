// The demo's sample has one source, its generator (support/sample.mjs): the CLI runs it (the
// package ships no data), and the files of sample/ that the browser demo and the tests read are
// its output, byte for byte (scripts/make-sample.mjs writes them).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
// biome-ignore lint/correctness/useImportExtensions: it is the .mjs file (support/sample.d.mts types it)
import { makeSample, npyBytes, sampleReadme } from '../support/sample.mjs';

test('sample/ is exactly what support/sample.mjs generates', () => {
  const { features, logits, mask, shape, forged } = makeSample();
  const [B, C, H, W] = shape;
  const file = (name) => readFileSync(new URL(`../sample/${name}`, import.meta.url));
  assert.deepEqual(file('features.npy'), Buffer.from(npyBytes(features, [B, C, H, W])));
  assert.deepEqual(file('logits.npy'), Buffer.from(npyBytes(logits, [B, 2, H, W])));
  assert.deepEqual(file('mask.npy'), Buffer.from(npyBytes(mask, [B, 1, H, W])));
  assert.equal(file('README.md').toString('utf8'), sampleReadme(forged));
});
