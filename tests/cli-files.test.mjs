// The command line against hostile files (issue 16): it reads regular files only (a device, a FIFO,
// a directory is an error at once, without reading or blocking), refuses a .npy whose size is not
// what its header says, never writes over an input, writes outputs all or none through a temporary
// file renamed into place (still printing the loss when a write fails), and shows a progress bar
// on a terminal only, on stderr only.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'forgery-losses-cli-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the tool (in `dir`) with a time limit: { status, signal, stdout, stderr, error }. */
function cli(...args) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir, timeout: 20_000 });
}

/** The bytes of a float32 .npy file (format 1.0) of `shape`, its elements drawn from a fixed sequence. */
function npyBytes(shape, values) {
  const size = shape.reduce((n, d) => n * d, 1);
  values ??= Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.37) * 0.5);
  return npyFile(shape.join(', '), values);
}

/** A .npy file of float32 `values` whose header says `shape` (the text between the parentheses). */
function npyFile(shape, values) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`;
  const headerLength = Math.ceil((11 + dict.length) / 64) * 64 - 10;
  const bytes = Buffer.alloc(10 + headerLength + 4 * values.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  bytes.writeUInt16LE(headerLength, 8);
  bytes.write(`${dict.padEnd(headerLength - 1)}\n`, 10, 'latin1');
  Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(bytes, 10 + headerLength);
  return bytes;
}

const write = (name, bytes) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};

// A small patch-contrast problem: features (2, 4, 8, 8) and a mask with both classes in each image.
const SHAPE = [2, 4, 8, 8];
const features = write('features.npy', npyBytes(SHAPE));
const maskValues = Float32Array.from({ length: 2 * 64 }, (_, i) => (i % 8 < 3 ? 1 : 0));
const mask = write('mask.npy', npyBytes([2, 1, 8, 8], maskValues));
const FEATURES_BYTES = readFileSync(features);
const base = ['eval', 'patch-contrast', '--features', features, '--mask', mask, '--patch-size', '2'];

/** Asserts a prompt failure: `status`, nothing on stdout, one line on stderr matching `message`. */
function assertFails(run, status, message) {
  assert.equal(run.error, undefined, `the tool did not finish: ${run.error?.message}`);
  assert.equal(run.status, status, run.stderr);
  assert.equal(run.stdout, '');
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /^forgery-losses: /);
  assert.match(lines[0], message);
}

const expectedLoss = (() => {
  const run = cli(...base, '--json');
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout).loss;
})();

describe('inputs: regular files only, their size what the header says', () => {
  test('/dev/zero as --features is refused at once (not read)', () => {
    const run = cli('eval', 'patch-contrast', '--features', '/dev/zero', '--mask', mask);
    assertFails(run, 1, /--features \/dev\/zero: a character device, not a regular file/);
  });

  test('a symbolic link to /dev/zero is refused too', () => {
    const link = join(dir, 'zero.npy');
    symlinkSync('/dev/zero', link);
    assertFails(cli('eval', 'patch-contrast', '--features', link, '--mask', mask), 1, /zero\.npy: a character device/);
  });

  test('a FIFO is refused without blocking', { skip: !hasCommand('mkfifo') && 'no mkfifo' }, () => {
    const fifo = join(dir, 'fifo.npy');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
    const started = Date.now();
    const run = spawnSync(process.execPath, [CLI, 'eval', 'patch-contrast', '--features', features, '--mask', fifo], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.notEqual(run.error?.code, 'ETIMEDOUT', 'the tool hung on the FIFO');
    assert.equal(run.signal, null);
    assertFails(run, 1, /--mask \S+fifo\.npy: a FIFO \(named pipe\), not a regular file/);
    assert.ok(Date.now() - started < 10_000);
  });

  test('a directory is refused', () => {
    assertFails(cli('eval', 'patch-contrast', '--features', dir, '--mask', mask), 1, /--features \S+: a directory/);
  });

  test('a truncated .npy is refused, naming both sizes', () => {
    const bytes = FEATURES_BYTES;
    const truncated = write('truncated.npy', bytes.subarray(0, bytes.length - 10));
    const run = cli('eval', 'patch-contrast', '--features', truncated, '--mask', mask);
    const data = 4 * SHAPE.reduce((n, d) => n * d, 1);
    assertFails(
      run,
      1,
      new RegExp(`--features \\S+truncated\\.npy: truncated data: .*needs ${data} bytes.*the file has ${data - 10}`),
    );
  });

  test('a .npy with trailing bytes is refused, naming both sizes', () => {
    const longer = write('trailing.npy', Buffer.concat([FEATURES_BYTES, Buffer.from('garbage')]));
    const run = cli('eval', 'patch-contrast', '--features', longer, '--mask', mask);
    const data = 4 * SHAPE.reduce((n, d) => n * d, 1);
    assertFails(run, 1, new RegExp(`trailing\\.npy: trailing bytes after the data: .*needs ${data} .*has ${data + 7}`));
  });

  test('a header claiming a huge shape is refused before any allocation', () => {
    const path = write('huge.npy', npyFile('100000, 100000, 100000, 100000', new Float32Array(4)));
    const run = cli('eval', 'patch-contrast', '--features', path, '--mask', mask);
    assertFails(
      run,
      1,
      /huge\.npy: truncated data: shape \(100000, 100000, 100000, 100000\) of <f4 needs 4(0){20} bytes/,
    );
  });

  test('a header length beyond the file is a truncated header', () => {
    const bytes = Buffer.from(FEATURES_BYTES.subarray(0, 40));
    const path = write('short-header.npy', bytes);
    assertFails(
      cli('eval', 'patch-contrast', '--features', path, '--mask', mask),
      1,
      /short-header\.npy: truncated header/,
    );
  });
});

describe('outputs are never inputs', () => {
  const cases = [
    ['the same path', () => features],
    ['the same path spelled differently', () => join(dir, '.', 'sub', '..', 'features.npy')],
    [
      'a symbolic link to the input',
      () => {
        const link = join(dir, 'features-link.npy');
        symlinkSync(features, link);
        return link;
      },
    ],
    [
      'a hard link to the input',
      () => {
        const link = join(dir, 'features-hard.npy');
        linkSync(features, link);
        return link;
      },
    ],
  ];
  for (const [what, path] of cases) {
    test(`--grad-out as --features: ${what}`, () => {
      mkdirSync(join(dir, 'sub'), { recursive: true });
      const run = cli(...base, '--grad-out', path());
      assertFails(run, 2, /--grad-out \S+ is the same file as the input --features \S+features\.npy/);
      assert.deepEqual(readFileSync(features), FEATURES_BYTES, 'the input was changed');
    });
  }

  test('--grad-out as --mask, and two outputs the same file, are refused', () => {
    assertFails(cli(...base, '--grad-out', mask), 2, /same file as the input --mask/);
    const logits = write('logits.npy', npyBytes([2, 2, 8, 8]));
    const out = join(dir, 'both.npy');
    const run = cli(
      ...['eval', 'cfl-objective', '--features', features, '--mask', mask, '--logits', logits, '--patch-size', '2'],
      ...['--grad-out', out, '--grad-logits-out', join(dir, 'sub', '..', 'both.npy')],
    );
    assertFails(run, 2, /--grad-logits-out \S+ is the same file as --grad-out \S+both\.npy/);
    assert.ok(!readdirSync(dir).includes('both.npy'));
  });

  test('an output that exists but is not a regular file is refused', () => {
    assertFails(cli(...base, '--grad-out', '/dev/null'), 2, /--grad-out \/dev\/null: a character device/);
    assertFails(cli(...base, '--grad-out', dir), 2, /--grad-out \S+: a directory/);
  });
});

describe('outputs: written through a temporary file, all or none', () => {
  /** The file names of `folder`, none of them a leftover temporary file. */
  const assertNoTemp = (folder) => {
    const left = readdirSync(folder).filter((n) => n.endsWith('.tmp'));
    assert.deepEqual(left, [], `temporary files left: ${left.join(', ')}`);
  };

  /** A failed write: the loss still printed (JSON and text), exit 1, one line naming the flag. */
  function assertWriteFails(args, message) {
    const json = cli(...args, '--json');
    assert.equal(json.status, 1, json.stderr);
    assert.equal(JSON.parse(json.stdout).loss, expectedLoss);
    assert.match(json.stderr, new RegExp(`^forgery-losses: ${message.source}[^\\n]*\\n$`));
    const text = cli(...args);
    assert.equal(text.status, 1, text.stderr);
    assert.match(text.stdout, /^patch-contrast: loss \S+\n/);
    assert.match(text.stdout, /gradient w.r.t. features: L2 norm \S+, not written/);
    assert.match(text.stderr, new RegExp(`^forgery-losses: ${message.source}[^\\n]*\\n$`));
  }

  test('an output in a directory that does not exist: loss printed, exit 1, nothing written', () => {
    const out = join(dir, 'missing-dir', 'g.npy');
    assertWriteFails([...base, '--grad-out', out], /--grad-out \S+missing-dir\/g\.npy: cannot write \(ENOENT/);
    assert.ok(!readdirSync(dir).includes('missing-dir'));
  });

  test('an output under a regular file (not a directory): loss printed, exit 1', () => {
    assertWriteFails([...base, '--grad-out', join(features, 'g.npy')], /--grad-out \S+: cannot write \(ENOTDIR/);
  });

  test('an output in a directory that cannot be written', () => {
    const ro = join(dir, 'read-only');
    mkdirSync(ro);
    writeFileSync(join(ro, 'g.npy'), 'old contents');
    chmodSync(ro, 0o555);
    try {
      // root writes regardless of permissions: the check only means something for other users.
      if (process.getuid?.() === 0) {
        const run = cli(...base, '--grad-out', join(ro, 'g.npy'));
        assert.equal(run.status, 0, run.stderr);
      } else {
        assertWriteFails([...base, '--grad-out', join(ro, 'g.npy')], /--grad-out \S+g\.npy: cannot write \(EACCES/);
        assert.equal(readFileSync(join(ro, 'g.npy'), 'utf8'), 'old contents');
      }
      assertNoTemp(ro);
    } finally {
      chmodSync(ro, 0o755);
    }
  });

  test('a write that fails midway leaves an existing output unchanged and no temporary file', {
    skip: !hasCommand('sh') && 'no sh',
  }, () => {
    // A file-size limit of 512 bytes (ulimit -f 1) makes the write fail with EFBIG, even for root;
    // the gradient (2·4·8·8 floats, 2 KiB) is larger. Node ignores SIGXFSZ, so the write just fails.
    const folder = join(dir, 'efbig');
    mkdirSync(folder);
    const out = join(folder, 'g.npy');
    writeFileSync(out, 'old contents');
    const quoted = [process.execPath, CLI, ...base, '--grad-out', out, '--json'].map((a) => `'${a}'`).join(' ');
    const run = spawnSync('sh', ['-c', `ulimit -f 1 && exec ${quoted}`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(run.status, 1, run.stderr);
    assert.equal(JSON.parse(run.stdout).loss, expectedLoss);
    assert.match(run.stderr, /^forgery-losses: --grad-out \S+g\.npy: cannot write \(EFBIG[^\n]*\n$/);
    assert.equal(readFileSync(out, 'utf8'), 'old contents');
    assertNoTemp(folder);
  });

  test('of two outputs, a failure of the second writes neither', () => {
    const folder = join(dir, 'two');
    mkdirSync(folder);
    const logits = write('two-logits.npy', npyBytes([2, 2, 8, 8]));
    const run = cli(
      ...['eval', 'cfl-objective', '--features', features, '--mask', mask, '--logits', logits, '--patch-size', '2'],
      ...['--grad-out', join(folder, 'g.npy'), '--grad-logits-out', join(folder, 'missing', 'gl.npy'), '--json'],
    );
    assert.equal(run.status, 1, run.stderr);
    assert.ok(Number.isFinite(JSON.parse(run.stdout).loss));
    assert.match(run.stderr, /--grad-logits-out \S+gl\.npy: cannot write \(ENOENT[^\n]*; no output was written\n$/);
    assert.deepEqual(readdirSync(folder), []);
  });

  test('a successful write replaces an existing file, keeping its permissions', () => {
    const out = join(dir, 'replace.npy');
    writeFileSync(out, 'old contents');
    chmodSync(out, 0o640);
    const run = cli(...base, '--grad-out', out);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /written to \S+replace\.npy/);
    const bytes = readFileSync(out);
    assert.equal(bytes.subarray(1, 6).toString('latin1'), 'NUMPY');
    assert.equal(bytes.length, FEATURES_BYTES.length);
    assert.equal(spawnSync('stat', ['-c', '%a', out], { encoding: 'utf8' }).stdout.trim(), '640');
    assertNoTemp(dir);
  });
});

function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** Runs a command line in `dir`, asynchronously: { status, stdout, stderr, ms }. */
function runAsync(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: dir, ...options });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Date.now() - started });
    });
  });
}

// `script` (util-linux) runs the tool on a pseudo-terminal: its stderr is a TTY there, its stdout a
// file (redirected), and the transcript script prints is what the terminal would show.
const hasScript = process.platform === 'linux' && hasCommand('script');

test('progress bar: on a terminal for a long eval, on stderr only; --quiet and a non-TTY show none', {
  skip: !hasScript && 'no script(1) for a pseudo-terminal',
}, async (t) => {
  // info-nce over every pixel of one 160x160 image of 24 channels: about 2 s of work on one thread.
  const [b, c, h, w] = [1, 24, 160, 160];
  const big = write('big-features.npy', npyBytes([b, c, h, w]));
  const bigMask = write(
    'big-mask.npy',
    npyBytes(
      [b, 1, h, w],
      Float32Array.from({ length: h * w }, (_, i) => (i % w < w / 3 ? 1 : 0)),
    ),
  );
  const args = ['eval', 'info-nce', '--features', big, '--mask', bigMask, '--json'];
  const quote = (a) => `'${a}'`;
  const onTerminal = (extra, out) =>
    runAsync(
      'script',
      ['-qfec', `${[process.execPath, CLI, ...args, ...extra].map(quote).join(' ')} > ${out}`, '/dev/null'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  // The three at once: the work only gets slower, which the bar does not mind.
  const [bar, quiet, plain] = await Promise.all([
    onTerminal([], join(dir, 'bar.json')),
    onTerminal(['--quiet'], join(dir, 'quiet.json')),
    runAsync(process.execPath, [CLI, ...args]),
  ]);
  for (const run of [bar, quiet, plain]) assert.equal(run.status, 0, run.stderr + run.stdout);
  if (!/info-nce \[/.test(bar.stdout) && plain.ms < 1500) {
    t.skip(`the eval took ${plain.ms} ms here, too little for the bar`);
    return;
  }
  // The terminal showed the bar (each draw after a carriage return and erase-line), then the
  // cleared line, and nothing else.
  const CLEAR = '\r\x1b[K';
  const pieces = bar.stdout.split(CLEAR);
  assert.equal(pieces[0], '', JSON.stringify(bar.stdout.slice(0, 80)));
  assert.equal(pieces.at(-1), '', JSON.stringify(bar.stdout.slice(-80)));
  const draws = pieces.slice(1, -1);
  assert.ok(draws.length > 0, JSON.stringify(bar.stdout));
  for (const line of draws) assert.match(line, /^info-nce \[[#.]{10,40}\] +\d+% +\d+\.\d s$/);
  assert.ok(draws.length <= Math.ceil(bar.ms / 100) + 1, `${draws.length} draws in ${bar.ms} ms`);
  // --quiet: nothing on the terminal; no terminal: nothing on stderr.
  assert.equal(quiet.stdout, '');
  assert.equal(plain.stderr, '');
  // stdout (--json) is the same in all three.
  const json = readFileSync(join(dir, 'bar.json'), 'utf8');
  assert.equal(json, readFileSync(join(dir, 'quiet.json'), 'utf8'));
  assert.equal(json, plain.stdout);
  assert.ok(Number.isFinite(JSON.parse(json).loss));
});
