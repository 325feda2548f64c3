// The SIMD and relaxed-SIMD builds: the relaxed one passes every golden case, and the two agree on
// random inputs. Node 20 validates relaxed SIMD only with --experimental-wasm-relaxed-simd, so
// those checks run in a child process with the flag (newer runtimes run them as they are).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { blobMask, gaussian, pkg } from './helpers/engine.mjs';

const FLAG = '--experimental-wasm-relaxed-simd';
const relaxedHere = (await pkg.createEngine({ wasmBuild: 'auto' })).info.features.relaxedSimd;

function runWithRelaxed(args, env = {}) {
  const flags = relaxedHere ? [] : [FLAG];
  // Without NODE_TEST_CONTEXT the child's test runner reports in plain TAP, not to this runner.
  const { NODE_TEST_CONTEXT: _, ...base } = process.env;
  return spawnSync(process.execPath, [...flags, ...args], {
    encoding: 'utf8',
    env: { ...base, ...env },
    timeout: 240_000,
  });
}

test('the relaxed-SIMD build passes every golden case', () => {
  const r = runWithRelaxed(['--test', new URL('./golden.test.mjs', import.meta.url).pathname], {
    FORGERY_WASM_BUILD: 'relaxed-simd',
  });
  assert.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr.slice(-2000));
  assert.match(r.stdout, /# pass 118/);
});

test('the SIMD and relaxed-SIMD builds agree on random inputs', () => {
  const r = runWithRelaxed([new URL('./helpers/compare-builds.mjs', import.meta.url).pathname]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /builds agree/);
});

test('auto picks the relaxed build exactly where it validates', async () => {
  const e = await pkg.createEngine();
  assert.equal(e.info.backend, e.info.features.relaxedSimd ? 'wasm-relaxed-simd' : 'wasm-simd');
  const r = await e.patchContrast({
    features: gaussian(2 * 8 * 16 * 16, 3),
    mask: blobMask(2, 16, 16),
    shape: [2, 8, 16, 16],
  });
  assert.equal(r.backend, e.info.backend);
});
