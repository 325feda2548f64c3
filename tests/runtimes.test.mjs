// The runtime matrix: the smoke suite (every loss, golden parity, threads 2 against threads 1)
// under Deno and Bun (npm devDependencies) and in headless Chromium (Debian's chromium, driven by
// playwright-core, page served on 127.0.0.1). A runtime that is not installed is skipped with a
// reason; .ci/run installs all three.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { CHROMIUM, launchChromium } from './helpers/chromium.mjs';
import { serve } from './runtime/serve.mjs';

const root = new URL('../', import.meta.url);
const bin = (name) => new URL(`node_modules/.bin/${name}`, root).pathname;
const runner = new URL('runtime/run-deno-bun.mjs', import.meta.url).pathname;

function lastJson(stdout) {
  const line = stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

/** `syncThreads`: 2 where the thread may wait for workers; a browser's main thread runs sync calls itself. */
function assertSmoke(result, runtime, syncThreads = 2) {
  assert.deepEqual(result.failures, [], `${runtime}: ${result.failures.join('\n')}`);
  assert.ok(result.passed >= 10, `${runtime}: only ${result.passed} checks ran`);
  assert.equal(result.info.syncThreads, syncThreads, `${runtime}: ${result.info.notes.join('; ')}`);
  if (syncThreads === 1) assert.match(result.info.notes.join('; '), /sync calls run in the calling thread: /);
  const { backend, threads } = result.info;
  console.log(
    `# ${runtime}: ${result.passed} passed, backend ${backend}, threads ${threads}, sync calls ${syncThreads}`,
  );
}

for (const [runtime, args] of [
  ['deno', ['run', '--allow-read', runner]],
  ['bun', [runner]],
]) {
  test(`smoke suite under ${runtime}`, {
    skip: existsSync(bin(runtime)) ? false : `${runtime} is not installed`,
  }, () => {
    const r = spawnSync(bin(runtime), args, {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    assert.equal(r.status, 0, r.stderr);
    assertSmoke(lastJson(r.stdout), runtime);
  });
}

// Isolated, the page has SharedArrayBuffer: an image on two workers is pooled in bands (docs/design.md §9).
for (const isolated of [false, true]) {
  test(`smoke suite in headless Chromium${isolated ? ', cross-origin isolated' : ''}`, {
    skip: existsSync(CHROMIUM) ? false : 'chromium is not installed (apt-get install chromium)',
  }, async () => {
    const { server, url } = await serve(root, { isolated });
    const browser = await launchChromium('fl-chromium-');
    try {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${url}/tests/runtime/page.html`);
      assert.equal(await page.evaluate(() => self.crossOriginIsolated), isolated);
      await page.waitForFunction(() => window.__result, null, { timeout: 120_000 });
      // A page's main thread may not block on Atomics.wait: its sync calls run there, and it says so.
      assertSmoke(await page.evaluate(() => window.__result), isolated ? 'chromium (isolated)' : 'chromium', 1);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      server.close();
    }
  });
}
