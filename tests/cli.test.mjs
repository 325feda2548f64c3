// The command-line tool (dist/cli.js): the demo's table, eval reproducing golden cases from .npy
// files (float64 and int64 inputs included, to exercise the conversions), and its failures: one
// line on stderr and a non-zero exit status.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkAgainstGolden } from './helpers/check.mjs';
import { assertArrayClose, assertClose, assertGradClose, loadCase } from './helpers/golden.mjs';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'forgery-losses-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the tool with `args`; returns { status, stdout, stderr }. */
function cli(...args) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });
}

// An independent .npy writer (format 1.0, little-endian), so the tool's reader is not checked against itself.
const DTYPES = {
  '<f4': [4, (v, o, x) => v.setFloat32(o, x, true)],
  '<f8': [8, (v, o, x) => v.setFloat64(o, x, true)],
  '<i4': [4, (v, o, x) => v.setInt32(o, x, true)],
  '<i8': [8, (v, o, x) => v.setBigInt64(o, BigInt(x), true)],
  '|u1': [1, (v, o, x) => v.setUint8(o, x)],
};

/** Writes `values` as a .npy file of `dtype` and `shape` (or a raw `descr` for an unsupported one); its path. */
function npy(name, values, shape, dtype = '<f4', descr = dtype) {
  const [size, set] = DTYPES[dtype];
  const dims = `${shape.join(', ')}${shape.length === 1 ? ',' : ''}`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const headerLength = Math.ceil((11 + dict.length) / 64) * 64 - 10;
  const bytes = new Uint8Array(10 + headerLength + size * values.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(bytes.buffer);
  view.setUint16(8, headerLength, true);
  bytes.set(new TextEncoder().encode(`${dict.padEnd(headerLength - 1)}\n`), 10);
  Array.from(values).forEach((x, i) => {
    set(view, 10 + headerLength + size * i, x);
  });
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Reads a float32 .npy file written by the tool: { shape, values }. */
function readF32(path) {
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)[1]
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  const data = bytes.subarray(10 + headerLength);
  return { shape, values: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

// JSON output writes NaN and the infinities as strings.
const fromJson = (text) =>
  JSON.parse(text, (_k, v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v));

/** The eval command line of a golden case; `dtypes` picks how each input is stored. */
function evalArgs(c, dtypes) {
  const i = c.inputs,
    o = c.options,
    s = c.shapes,
    id = `${c.loss}-${c.name}`;
  const file = (key, shape = s[key]) => npy(`${id}-${key}.npy`, i[key], shape, dtypes[key]);
  const loss = c.loss.replace('_', '-');
  const args = ['eval', loss, '--json', '--grad-out', join(dir, `${id}-grad.npy`)];
  switch (c.loss) {
    case 'cross_entropy':
      args.push('--logits', file('logits'), '--reduction', o.reduction, '--label-smoothing', String(o.label_smoothing));
      if (o.weight) args.push('--weight', o.weight.join(','));
      if (o.target_kind === 'index') args.push('--target', file('target'), '--ignore-index', String(o.ignore_index));
      else args.push('--target-probs', file('target_probs'));
      break;
    case 'patch_contrast':
      args.push(
        '--features',
        file('features'),
        '--mask',
        file('mask', dtypes.maskShape ?? s.mask),
        '--variant',
        c.variant,
        '--patch-size',
        String(o.patch_size),
        '--temperature',
        String(o.temperature),
      );
      break;
    case 'info_nce':
      args.push(
        '--features',
        file('features'),
        '--mask',
        file('mask'),
        '--positive',
        c.variant,
        '--temperature',
        String(o.temperature),
      );
      break;
    case 'cfl_objective':
      args.push(
        '--logits',
        file('logits'),
        '--features',
        file('features'),
        '--mask',
        file('mask'),
        '--weight',
        o.weight.join(','),
        '--alpha',
        String(o.alpha),
        '--patch-size',
        String(o.patch_size),
        '--temperature',
        String(o.temperature),
        '--grad-logits-out',
        join(dir, `${id}-grad-logits.npy`),
      );
      break;
  }
  return args;
}

const GOLDEN = [
  ['cross_entropy', 'index_c2_cflweight_mean', { logits: '<f8', target: '<i8' }],
  ['cross_entropy', 'index_c3_weight_none', { target: '<i4' }],
  ['cross_entropy', 'soft_weight_mean', { target_probs: '<f8' }],
  ['cross_entropy', 'ignore_everywhere_mean', { target: '|u1' }],
  ['patch_contrast', 'basic_b2_c6_12x12_p4__cflnet', { mask: '|u1', maskShape: [2, 12, 12] }],
  ['info_nce', 'basic_b2_c8_8x8__mean-exp', { features: '<f8', mask: '<f8' }],
  ['cfl_objective', 'basic_b2_c8_12x12', { features: '<f8' }],
];

describe('eval reproduces golden cases', () => {
  for (const [loss, name, dtypes] of GOLDEN) {
    test(`${loss}/${name}`, () => {
      const c = loadCase(loss, name);
      const run = cli(...evalArgs(c, dtypes));
      assert.equal(run.status, 0, run.stderr);
      const out = fromJson(run.stdout);
      assert.match(out.backend, /^wasm/);
      const noise = c.gradient_is_rounding_noise;
      if (Array.isArray(c.expected.loss)) assertArrayClose(out.loss, c.expected.loss, 'loss');
      else assertClose(out.loss, c.expected.loss, 'loss');
      if (c.expected.loss === 'NaN') assert.match(run.stdout, /"loss":"NaN"/);
      const grad = readF32(join(dir, `${loss}-${name}-grad.npy`));
      const gradOf = loss === 'cross_entropy' ? 'logits' : 'features';
      assert.deepEqual(grad.shape, c.shapes[gradOf]);
      assertGradClose(grad.values, c.expected.grad[gradOf], `--grad-out (${gradOf})`, { noise });
      const result = { ...out, grad: { [gradOf]: grad.values } };
      if (loss === 'cfl_objective') {
        const logits = readF32(join(dir, `${loss}-${name}-grad-logits.npy`));
        assert.deepEqual(logits.shape, c.shapes.logits);
        assertGradClose(logits.values, c.expected.grad.logits, '--grad-logits-out', { noise });
        result.grad.logits = logits.values;
      }
      checkAgainstGolden(c, result); // every other result field of the JSON
    });
  }
});

test('demo prints the engine and a row for every loss and variant', () => {
  const run = cli('demo');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^engine: backend wasm-\S+, threads 1, features simd yes/);
  const rows = [
    ['crossEntropy', 'mask target, CFL weights'],
    ['patchContrast', 'exact'],
    ['patchContrast', 'cflnet'],
    ['infoNCE', 'mean-logit, full dictionary'],
    ['infoNCE', 'mean-logit, maxPerClass 256'],
    ['infoNCE', 'mean-exp, full dictionary'],
    ['infoNCE', 'mean-exp, maxPerClass 256'],
    ['cflObjective', 'CE + patchContrast cflnet'],
  ];
  for (const [loss, variant] of rows) {
    const line = run.stdout.split('\n').find((l) => l.startsWith(`${loss} `) && l.includes(` ${variant} `));
    assert.ok(line, `no row for ${loss} ${variant}`);
    const [value, norm, ms, backend, threads] = line
      .slice(line.indexOf(variant) + variant.length)
      .trim()
      .split(/\s+/);
    assert.ok(Number.isFinite(Number(value)) && Number(norm) > 0 && Number(ms) >= 0, line);
    assert.match(backend, /^wasm/);
    assert.equal(threads, '1');
  }
});

test('--help, subcommand help and --version', () => {
  for (const args of [
    ['--help'],
    ['-h'],
    ['demo', '--help'],
    ['eval', '--help'],
    ['eval', 'info-nce', '-h'],
    ['bench', '--help'],
  ]) {
    const run = cli(...args);
    assert.equal(run.status, 0, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stdout, /Usage/);
  }
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(cli('--version').stdout.trim(), `forgery-losses ${pkg.version}`);
});

describe('errors: one line on stderr, non-zero exit', () => {
  const c = loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__cflnet');
  const features = npy('features.npy', c.inputs.features, c.shapes.features);
  const mask = npy('mask.npy', c.inputs.mask, c.shapes.mask);
  const bad = {
    magic: (() => {
      const p = join(dir, 'magic.npy');
      writeFileSync(p, 'not an npy file at all');
      return p;
    })(),
    dtype: npy('f2.npy', new Array(c.inputs.features.length).fill(0), c.shapes.features, '|u1', '<f2'),
    shape: npy('mask-shape.npy', c.inputs.mask.slice(0, 144), [1, 1, 12, 12]),
    bigEndian: npy('big.npy', c.inputs.features, c.shapes.features, '<f4', '>f4'),
  };
  const cases = [
    ['missing file', 1, /missing\.npy: no such file/, ['--features', join(dir, 'missing.npy'), '--mask', mask]],
    ['bad magic', 1, /magic\.npy: not a \.npy file/, ['--features', bad.magic, '--mask', mask]],
    ['unsupported dtype', 1, /f2\.npy: unsupported dtype <f2/, ['--features', bad.dtype, '--mask', mask]],
    ['big-endian', 1, /big\.npy: big-endian dtype >f4/, ['--features', bad.bigEndian, '--mask', mask]],
    [
      'wrong shape',
      1,
      /mask-shape\.npy: mask must have shape \(2, 1, 12, 12\) or \(2, 12, 12\); got \(1, 1, 12, 12\)/,
      ['--features', features, '--mask', bad.shape],
    ],
    ['unknown option', 2, /unknown option '--colour'/, ['--features', features, '--mask', mask, '--colour', 'red']],
    [
      'bad --variant',
      2,
      /--variant must be one of exact, cflnet; got 'fast'/,
      ['--features', features, '--mask', mask, '--variant', 'fast'],
    ],
    [
      'bad --temperature',
      2,
      /--temperature expects a number/,
      ['--features', features, '--mask', mask, '--temperature', 'hot'],
    ],
    ['API rejection', 1, /patchSize 5 must divide H/, ['--features', features, '--mask', mask, '--patch-size', '5']],
    ['missing input', 2, /patch-contrast needs --mask/, ['--features', features]],
  ];
  for (const [what, status, message, args] of cases) {
    test(what, () => {
      const run = cli('eval', 'patch-contrast', ...args);
      assert.equal(run.status, status, run.stderr);
      assert.equal(run.stdout, '');
      const lines = run.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0], /^forgery-losses: /);
      assert.match(lines[0], message);
    });
  }

  test('unknown command and unknown loss are usage errors', () => {
    for (const args of [[], ['train'], ['eval', 'dice']]) {
      const run = cli(...args);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /^forgery-losses: [^\n]+\n$/);
    }
  });
});

test("eval info-nce --scope batch gives the engine's batch-scope result; a bad --scope is a usage error", async () => {
  const c = loadCase('info_nce', 'b3_mixed__mean-exp');
  const { createEngine } = await import('../dist/index.js');
  const args = evalArgs(c, {}).map((a) => a.replace('-grad.npy', '-batch-grad.npy'));
  const run = cli(...args, '--scope', 'batch');
  assert.equal(run.status, 0, run.stderr);
  const out = fromJson(run.stdout);
  const e = await createEngine({ threads: 1 });
  const shape = c.shapes.features;
  const options = { features: Float32Array.from(c.inputs.features), mask: Float32Array.from(c.inputs.mask), shape };
  const expected = await e.infoNCE({
    ...options,
    positive: 'mean-exp',
    temperature: c.options.temperature,
    scope: 'batch',
  });
  const image = await e.infoNCE({ ...options, positive: 'mean-exp', temperature: c.options.temperature });
  await e.dispose();
  assert.equal(out.loss, expected.loss);
  assert.notEqual(out.loss, image.loss);
  assert.deepEqual(out.perImageLoss, expected.perImageLoss);
  assert.deepEqual(readF32(join(dir, `info_nce-${c.name}-batch-grad.npy`)).values, expected.grad.features);
  const bad = cli(...args, '--scope', 'everything');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--scope/);
});
