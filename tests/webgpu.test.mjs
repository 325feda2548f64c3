// The WebGPU backend without a GPU: the WebGPU suite (tests/runtime/webgpu.mjs: golden parity of
// every loss and variant, split paths, device loss, auto, dispose) under Deno, whose navigator.gpu
// runs on Mesa's Vulkan lavapipe, and in headless Chromium with --enable-unsafe-webgpu
// (SwiftShader); and in Node, which has no navigator.gpu: backend 'webgpu' rejects clearly and
// 'auto' runs wasm. A runtime without an adapter is skipped with the reason it gave.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { CHROMIUM, launchChromium } from './helpers/chromium.mjs';
import { checkAgainstGolden } from './helpers/check.mjs';
import { pkg } from './helpers/engine.mjs';
import { loadCase, optionsOf } from './helpers/golden.mjs';
import { serve } from './runtime/serve.mjs';

const root = new URL('../', import.meta.url);
const DENO = new URL('node_modules/.bin/deno', root).pathname;

function assertSuite(result, runtime, t) {
  if (result.skipped) {
    t.skip(`${runtime} has no WebGPU adapter: ${result.skipped}`);
    return;
  }
  assert.deepEqual(result.failures, [], `${runtime}: ${result.failures.join('\n')}`);
  assert.ok(result.passed >= 30, `${runtime}: only ${result.passed} checks ran`);
  assert.equal(result.info.backend, 'webgpu');
  const a = result.info.webgpu;
  const worst = Object.entries(result.worst)
    .map(([loss, w]) => `${loss} ${w.loss.toExponential(1)}/${w.grad.toExponential(1)}`)
    .join(', ');
  console.log(
    `# ${runtime}: ${result.passed} passed on ${a.vendor} ${a.architecture} ${a.description} (fallback ${a.isFallbackAdapter}); worst loss/gradient errors: ${worst}`,
  );
  // The engine on a caller's device (tests/runtime/webgpu-device.mjs).
  const d = result.device;
  assert.deepEqual(d.failures, [], `${runtime} device suite: ${d.failures.join('\n')}`);
  assert.ok(d.passed >= 35, `${runtime}: only ${d.passed} device checks ran`);
  const deviceWorst = Object.entries(d.worst)
    .map(([loss, w]) => `${loss} ${w.loss.toExponential(1)}/${w.grad.toExponential(1)}`)
    .join(', ');
  console.log(`# ${runtime}: ${d.passed} device-engine checks passed; worst loss/gradient errors: ${deviceWorst}`);
}

test('WebGPU suite under Deno (navigator.gpu over lavapipe)', {
  skip: existsSync(DENO) ? false : 'deno is not installed',
}, (t) => {
  const r = spawnSync(DENO, ['run', '-A', new URL('runtime/run-webgpu.mjs', import.meta.url).pathname], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1', XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() },
  });
  assert.equal(r.status, 0, r.stderr);
  assertSuite(JSON.parse(r.stdout.trim().split('\n').pop()), 'deno', t);
});

test('WebGPU suite in headless Chromium (--enable-unsafe-webgpu, SwiftShader)', {
  skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)',
}, async (t) => {
  const { server, url } = await serve(root);
  const browser = await launchChromium('fl-webgpu-', { webgpu: true });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${url}/tests/runtime/webgpu.html`);
    await page.waitForFunction(() => window.__result, null, { timeout: 120_000 });
    assertSuite(await page.evaluate(() => window.__result), 'chromium', t);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});

test("Node has no navigator.gpu: backend 'webgpu' rejects clearly, 'auto' runs wasm", async () => {
  await assert.rejects(pkg.createEngine({ backend: 'webgpu' }), (error) => {
    assert.match(error.message, /backend "webgpu" is unavailable: this runtime has no navigator\.gpu/);
    return true;
  });
  const auto = await pkg.createEngine({ backend: 'auto' });
  try {
    assert.match(auto.info.backend, /^wasm-(relaxed-)?simd$/);
    assert.equal(auto.info.webgpu, null);
    const c = loadCase('patch_contrast', 'b3_mixed__cflnet');
    const r = await auto.patchContrast(optionsOf(c));
    assert.equal(r.backend, auto.info.backend);
    checkAgainstGolden(c, r);
  } finally {
    await auto.dispose();
  }
  await assert.rejects(pkg.createEngine({ webgpuAuto: { margin: -1 } }), RangeError);
  await assert.rejects(pkg.createEngine({ webgpuAuto: { allowFallbackAdapter: 'yes' } }), TypeError);
});
