// The training examples that end in a JSON line (npm run example:generalize, example:scope), run
// on tiny settings: the last line's shape, finite numbers, a PNG written, and the same JSON from
// two identical runs (everything is seeded; only "seconds" may differ). Needs the build (dist/).
// Run: node --test tests/examples.test.mjs
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'forgery-examples-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs an example; resolves to its last stdout line parsed as JSON, "seconds" taken out. */
async function lastLine(script, args) {
  const { stdout } = await promisify(execFile)(process.execPath, [script, ...args], {
    cwd: ROOT,
    maxBuffer: 16 * 2 ** 20,
  });
  const { seconds, ...rest } = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.ok(Number.isFinite(seconds) && seconds >= 0, `seconds ${seconds}`);
  return rest;
}

const isPng = (path) =>
  readFileSync(path)
    .subarray(0, 8)
    .equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));

/** A { mean, sd } over seeds: finite, sd ≥ 0, the mean within [lo, hi]. */
function assertStat(s, where, [lo, hi] = [0, 1]) {
  assert.deepEqual(Object.keys(s).sort(), ['mean', 'sd'], where);
  assert.ok(Number.isFinite(s.mean) && s.mean >= lo && s.mean <= hi, `${where}.mean ${s.mean}`);
  assert.ok(Number.isFinite(s.sd) && s.sd >= 0, `${where}.sd ${s.sd}`);
}

test('example:generalize on tiny settings: three methods, both splits, IoU and F1 over the seeds; deterministic', async () => {
  const args = (png) => ['--seeds', '2', '--steps', '3', '--size', '16', '--held-out', '6', '--out', png];
  const png = join(dir, 'generalize.png');
  const first = await lastLine('examples/generalize/train.mjs', args(png));
  assert.ok(isPng(png), 'the plot is a PNG');
  assert.equal(first.seeds, 2);
  assert.deepEqual(Object.keys(first), ['seeds', 'methods']);
  assert.deepEqual(Object.keys(first.methods), ['ce', 'cflnet', 'focal']);
  for (const [name, splits] of Object.entries(first.methods)) {
    assert.deepEqual(Object.keys(splits), ['seen', 'unseen'], name);
    for (const [split, { f1, ...iou }] of Object.entries(splits)) {
      assertStat(iou, `${name}.${split}`);
      assertStat(f1, `${name}.${split}.f1`);
    }
  }
  const second = await lastLine('examples/generalize/train.mjs', args(join(dir, 'generalize-2.png')));
  assert.deepEqual(second, first);
});

test('example:scope --seeds on tiny settings: the seeds line with a paired gap; deterministic', async () => {
  const args = (png) => ['--seeds', '2', '--steps', '3', '--size', '16', '--held-out', '4', '--out', png];
  const png = join(dir, 'scope-seeds.png');
  const first = await lastLine('examples/scope/train.mjs', args(png));
  assert.ok(isPng(png), 'the plot is a PNG');
  assert.deepEqual(Object.keys(first), ['seeds', 'image', 'batch', 'iouGap', 'steps']);
  assert.equal(first.seeds, 2);
  assert.equal(first.steps, 3);
  for (const scope of ['image', 'batch']) {
    assert.deepEqual(Object.keys(first[scope]), ['iou', 'stepChange'], scope);
    assertStat(first[scope].iou, `${scope}.iou`);
    assertStat(first[scope].stepChange, `${scope}.stepChange`, [0, Number.POSITIVE_INFINITY]);
  }
  const { mean, ci95 } = first.iouGap;
  assert.ok(Math.abs(mean - (first.image.iou.mean - first.batch.iou.mean)) < 1e-12, 'the gap is paired');
  assert.equal(ci95.length, 2);
  assert.ok(ci95.every(Number.isFinite) && ci95[0] <= mean && mean <= ci95[1], `ci95 ${ci95} around ${mean}`);
  const second = await lastLine('examples/scope/train.mjs', args(join(dir, 'scope-seeds-2.png')));
  assert.deepEqual(second, first);
});

test('example:scope without --seeds keeps its single-run line', async () => {
  const png = join(dir, 'scope.png');
  const line = await lastLine('examples/scope/train.mjs', [
    '--steps',
    '2',
    '--size',
    '16',
    '--held-out',
    '4',
    '--out',
    png,
  ]);
  assert.ok(isPng(png), 'the plot is a PNG');
  assert.deepEqual(Object.keys(line), ['image', 'batch', 'steps']);
  assert.equal(line.steps, 2);
  for (const scope of ['image', 'batch']) {
    assert.deepEqual(Object.keys(line[scope]), ['finalLoss', 'iou', 'lossJitter'], scope);
    for (const [key, v] of Object.entries(line[scope])) assert.ok(Number.isFinite(v), `${scope}.${key} ${v}`);
  }
});
