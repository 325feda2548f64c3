// forgery-losses/tfjs on TF.js 4.22's webgpu backend (tests/runtime/tfjs-webgpu.mjs), under Deno
// (Mesa's lavapipe) and in headless Chromium (SwiftShader): a training step of every loss reads
// nothing back and matches the wasm API. Run: node build.mjs && node --test tests/tfjs-webgpu.test.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import * as esbuild from 'esbuild';
import { CHROMIUM, launchChromium } from './helpers/chromium.mjs';
import { serve } from './runtime/serve.mjs';

const root = new URL('../', import.meta.url);
const DENO = new URL('node_modules/.bin/deno', root).pathname;

function assertSuite(result, runtime, t) {
  if (result.skipped) {
    t.skip(`${runtime}: ${result.skipped}`);
    return;
  }
  assert.deepEqual(result.failures, [], `${runtime}: ${result.failures.join('\n')}`);
  assert.ok(result.passed >= 14, `${runtime}: only ${result.passed} checks ran`);
  assert.equal(Object.keys(result.steps).length, 7);
  for (const [loss, s] of Object.entries(result.steps)) {
    assert.deepEqual(s.counts, { mapAsync: 0, read: 0, readSync: 0 }, `${runtime} ${loss}`);
    console.log(
      `# ${runtime} ${loss}: 0 read-backs; loss error ${s.lossError.toExponential(1)}, weight gradient error ${s.gradError.toExponential(1)}`,
    );
  }
}

test('TF.js webgpu backend under Deno (lavapipe): training steps stay on the GPU', {
  skip: existsSync(DENO) ? false : 'deno is not installed',
}, (t) => {
  const r = spawnSync(DENO, ['run', '-A', new URL('runtime/run-tfjs-webgpu.mjs', import.meta.url).pathname], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, NO_COLOR: '1', XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
  });
  assert.equal(r.status, 0, r.stderr);
  assertSuite(JSON.parse(r.stdout.trim().split('\n').pop()), 'deno', t);
});

test('TF.js webgpu backend in headless Chromium (SwiftShader): training steps stay on the GPU', {
  skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)',
}, async (t) => {
  const out = new URL('test-output/tfjs-webgpu/', root);
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [new URL('runtime/tfjs-webgpu-page.mjs', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outfile: new URL('page.js', out).pathname,
    // The package's chunk imports are bare imports of a sideEffects-false package: esbuild says so.
    logLevel: 'error',
  });
  writeFileSync(
    new URL('page.html', out),
    '<!doctype html><meta charset="utf-8"><script type="module" src="./page.js"></script>\n',
  );
  const { server, url } = await serve(root);
  const browser = await launchChromium('fl-tfjs-webgpu-', { webgpu: true });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${url}/test-output/tfjs-webgpu/page.html`);
    await page.waitForFunction(() => window.__result, null, { timeout: 180_000 });
    assertSuite(await page.evaluate(() => window.__result), 'chromium', t);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});
