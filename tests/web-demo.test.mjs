// The browser demo (examples/web, what `npm run demo:web` serves): its server started as a process
// (the URL it prints, a clean exit on SIGINT), the page driven in headless Chromium (Debian's
// chromium, playwright-core) and every loss value it shows checked against the same call in Node
// on the same sample, before and after switching the variant and temperature through the UI.
// The training panel trains in the page on TF.js (webgpu: 0 read-backs per step; webgl: one).
// Leaves a screenshot at test-output/web-demo.png.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const CHROMIUM = '/usr/bin/chromium';
const SERVER = new URL('examples/web/serve.mjs', root).pathname;
const SCREENSHOT = new URL('test-output/web-demo.png', root).pathname;
const LOSSES = ['patchContrast', 'infoNCE', 'crossEntropy', 'cflObjective'];
const RTOL = 1e-4;
const CFL_WEIGHT = [0.0892, 0.9108];

/** A float32 .npy file (format 1.0, little-endian), read independently of the package and the page. */
function readNpy(name) {
  const bytes = readFileSync(new URL(`sample/${name}`, root));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint16(8, true);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)[1]
    .split(',')
    .filter((s) => s.trim())
    .map(Number);
  const data = new Float32Array(shape.reduce((n, d) => n * d, 1));
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(10 + headerLength + 4 * i, true);
  return { shape, data };
}

/** The page's four calls, in Node (threads 1). */
async function expected(engine, sample, { variant, temperature }) {
  const { features, logits, mask, shape } = sample;
  const [b, , h, w] = shape;
  const out = {
    patchContrast: await engine.patchContrast({ features, mask, shape, patchSize: 4, variant, temperature }),
    infoNCE: await engine.infoNCE({ features, mask, shape, temperature, positive: 'mean-logit' }),
    crossEntropy: await engine.crossEntropy({
      logits,
      shape: [b, 2, h, w],
      target: Int32Array.from(mask),
      weight: CFL_WEIGHT,
    }),
    cflObjective: await engine.cflObjective({ logits, features, mask, shape, patchSize: 4, temperature }),
  };
  return Object.fromEntries(LOSSES.map((loss) => [loss, out[loss].loss]));
}

function assertRel(actual, want, what) {
  assert.ok(Number.isFinite(actual), `${what}: shown ${actual}`);
  const rel = Math.abs(actual - want) / Math.max(Math.abs(want), 1e-12);
  assert.ok(
    rel <= RTOL,
    `${what}: shown ${actual}, Node ${want} (relative difference ${rel.toExponential(2)} > ${RTOL})`,
  );
}

/** What the page shows: window.__demo and the table cells (their data attributes and their text). */
async function shown(page) {
  return page.evaluate(() => ({
    demo: structuredClone(window.__demo),
    cells: [...document.querySelectorAll('#results td[data-loss]')].map((td) => ({
      backend: td.dataset.backend,
      loss: td.dataset.loss,
      value: Number(td.dataset.value),
      ms: Number(td.dataset.ms),
      text: td.querySelector('.value').textContent,
    })),
    rows: [...document.querySelectorAll('#results tbody tr')].map((tr) => ({
      backend: tr.dataset.backend,
      available: tr.dataset.available,
      text: tr.textContent,
    })),
  }));
}

/** Every number shown for every wasm backend matches Node's; the WebGPU row ran too or says why not. */
function checkShown({ demo, cells, rows }, params, want) {
  assert.equal(demo.error, null);
  assert.deepEqual(demo.params, params);
  assert.deepEqual(
    rows.map((r) => r.backend),
    ['wasm-1', 'wasm-threads', 'webgpu'],
  );
  const byId = Object.fromEntries(demo.results.map((r) => [r.id, r]));
  for (const id of ['wasm-1', 'wasm-threads']) {
    const r = byId[id];
    assert.equal(r.available, true, `${id} did not run: ${r.reason}`);
    assert.match(r.backend, /^wasm-(relaxed-)?simd$/);
    assert.ok(Array.isArray(r.notes));
  }
  assert.equal(byId['wasm-1'].threads, 1);
  const cores = Math.min(8, demo.runtime.cores ?? 1);
  const threads = byId['wasm-threads'].threads;
  assert.ok(
    threads === cores || byId['wasm-threads'].notes.length > 0,
    `threads 'auto' ran ${threads} of ${cores} with no note`,
  );
  const webgpu = byId.webgpu;
  if (!webgpu.available) {
    assert.ok(webgpu.reason.length > 0);
    assert.ok(rows[2].text.includes('Unavailable') && rows[2].text.includes(webgpu.reason), rows[2].text);
  }
  const ran = demo.results.filter((r) => r.available);
  assert.equal(cells.length, ran.length * LOSSES.length);
  for (const r of ran) {
    for (const loss of LOSSES) {
      const what = `${r.id} ${loss} (${params.variant}, τ ${params.temperature})`;
      assertRel(r.losses[loss].value, want[loss], `${what} in __demo`);
      assert.ok(r.losses[loss].ms >= 0, `${what}: time ${r.losses[loss].ms}`);
      const cell = cells.find((c) => c.backend === r.id && c.loss === loss);
      assert.ok(cell, `${what}: no table cell`);
      assertRel(cell.value, want[loss], `${what} data-value`);
      assertRel(Number(cell.text), want[loss], `${what} as displayed ("${cell.text}")`);
    }
  }
}

/** Distinct colours on each map canvas (the maps were really drawn). */
function canvasColours(page) {
  return page.evaluate(() =>
    Object.fromEntries(
      ['mask', 'heat', 'grad'].map((id) => {
        const canvas = document.getElementById(`${id}-canvas`);
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        const colours = new Set();
        for (let i = 0; i < data.length; i += 4) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        return [id, colours.size];
      }),
    ),
  );
}

/** Starts examples/web/serve.mjs; resolves to { child, pageUrl, output() } once it printed its URL. */
function startServer() {
  const child = spawn(process.execPath, [SERVER], {
    cwd: fileURLToPath(root),
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server printed no URL in 10 s: ${stdout}${stderr}`)), 10_000);
    child.on('exit', (code) => reject(new Error(`the server exited (${code}): ${stderr}`)));
    child.stdout.on('data', (d) => {
      stdout += d;
      const url = /http:\/\/127\.0\.0\.1:\d+\/examples\/web\//.exec(stdout)?.[0];
      if (url) {
        clearTimeout(timer);
        resolve({ child, pageUrl: url, output: () => ({ stdout, stderr }) });
      }
    });
  });
}

function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
    child.kill('SIGINT');
  });
}

test('browser demo: the numbers shown match Node, before and after changing variant and temperature', {
  skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)',
  timeout: 90_000,
}, async () => {
  const { chromium } = await import('playwright-core');
  const { createEngine } = await import('../dist/index.js');
  const features = readNpy('features.npy');
  const sample = {
    features: features.data,
    logits: readNpy('logits.npy').data,
    mask: readNpy('mask.npy').data,
    shape: features.shape,
  };
  const engine = await createEngine({ threads: 1 });
  const { child, pageUrl, output } = await startServer();
  const origin = new URL(pageUrl).origin;
  const profile = mkdtempSync(join(tmpdir(), 'fl-web-demo-'));
  let browser;
  try {
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--no-sandbox',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--disable-default-apps',
        '--disable-extensions',
        '--enable-unsafe-webgpu',
      ],
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(origin) && !r.url().startsWith('data:'))
        problems.push(`request outside the server: ${r.url()}`);
    });

    await page.goto(pageUrl);
    await page.waitForFunction(() => window.__demo?.ready && window.__demo.runs >= 1, null, { timeout: 30_000 });
    const first = { variant: 'exact', temperature: 0.1 };
    checkShown(await shown(page), first, await expected(engine, sample, first));
    const colours = await canvasColours(page);
    assert.equal(colours.mask, 2, 'the mask shows pristine and forged pixels');
    assert.ok(colours.heat > 20 && colours.grad > 20, `maps look blank: ${JSON.stringify(colours)}`);

    // Through the UI: the variant radio, then the temperature box (committed by Tab, a change event).
    const runs = await page.evaluate(() => window.__demo.runs);
    await page.locator('input[name="variant"][value="cflnet"]').check();
    await page.locator('#temperature').fill('0.2');
    await page.locator('#temperature').press('Tab');
    await page.waitForFunction(
      (n) => {
        const d = window.__demo;
        return d.ready && d.runs > n && d.params?.variant === 'cflnet' && d.params.temperature === 0.2;
      },
      runs,
      { timeout: 30_000 },
    );
    const second = { variant: 'cflnet', temperature: 0.2 };
    const want = await expected(engine, sample, second);
    assert.notEqual(want.patchContrast, (await expected(engine, sample, first)).patchContrast);
    checkShown(await shown(page), second, want);
    assert.match(await page.locator('#heat-caption').textContent(), /cflnet · τ 0\.2/);

    // The image selector redraws the maps of image 1 (no recompute).
    const hw = 64 * 64;
    const forged1 = sample.mask.subarray(hw, 2 * hw).reduce((n, v) => n + (v > 0.5 ? 1 : 0), 0);
    await page.locator('#image').selectOption('1');
    assert.match(
      await page.locator('#mask-caption').textContent(),
      new RegExp(`image 1 · ${forged1} of ${hw} px forged`),
    );
    await page.locator('#image').selectOption('0');
    await page.evaluate(() => document.activeElement?.blur());

    mkdirSync(new URL('test-output/', root), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser?.close();
    await engine.dispose();
    const exit = await stopServer(child);
    rmSync(profile, { recursive: true, force: true });
    assert.deepEqual(
      exit,
      { code: 0, signal: null },
      `the server did not exit cleanly on SIGINT: ${JSON.stringify(output())}`,
    );
    assert.match(output().stdout, /stopped \(SIGINT\)/);
  }
});

/** Clicks Train on the demo at `query` and waits for the run to end; returns window.__training. */
async function trainOn(page, pageUrl, query) {
  await page.goto(`${pageUrl}${query}`);
  await page.waitForFunction(() => window.__training?.state === 'ready', null, { timeout: 60_000 });
  await page.locator('#train-button').click();
  await page.waitForFunction(() => ['done', 'error'].includes(window.__training.state), null, { timeout: 240_000 });
  return page.evaluate(() => structuredClone(window.__training));
}

test('browser demo: the model trains live; on TF.js webgpu no step reads back, on webgl each reads once', {
  skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)',
  timeout: 600_000,
}, async () => {
  const { launchChromium } = await import('./helpers/chromium.mjs');
  const { child, pageUrl } = await startServer();
  const browser = await launchChromium('fl-web-train-', { webgpu: true });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e}`));
    // A software WebGPU adapter (SwiftShader) is used only when the URL asks for it.
    const gpu = await trainOn(page, pageUrl, '?software-webgpu&train-steps=2');
    assert.equal(gpu.error, null);
    assert.equal(gpu.backend, 'webgpu');
    assert.equal(gpu.gpuResident, true);
    assert.equal(gpu.readBacksInSteps, 0);
    assert.equal(gpu.losses.length, 2);
    assert.ok(gpu.losses.every(Number.isFinite), String(gpu.losses));
    assert.deepEqual(
      gpu.iou.map(([step]) => step),
      [0, 2],
    );
    assert.match(await page.locator('#train-residency').textContent(), /The loss stayed on the GPU: no read-back/);
    const colours = await page.evaluate(() => {
      const c = document.getElementById('train-pred');
      const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      return new Set(Array.from({ length: data.length / 4 }, (_, i) => data[4 * i])).size;
    });
    assert.ok(colours >= 2, 'the predicted mask was not drawn');
    const gl = await trainOn(page, pageUrl, '?train-steps=2');
    assert.equal(gl.error, null);
    assert.equal(gl.backend, 'webgl');
    assert.match(gl.skipped.join(), /webgpu: a software adapter/);
    assert.equal(gl.gpuResident, false);
    assert.equal(gl.readBacksInSteps, 2, 'webgl: one read of the features per step');
    // The same model, data and first step on either backend.
    assertRel(gl.losses[0], gpu.losses[0], 'first loss, webgl against webgpu');
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    await stopServer(child);
  }
});
