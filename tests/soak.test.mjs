// No leaks (issue 10.4), the short version: 1,500 sequential mixed calls on one engine (every loss
// and variant, grad on and off, refused calls among them) and 120 create/dispose cycles (every
// fourth with 2 worker threads). After warm-up the engine's wasm memory must not change at all,
// and the process's RSS and JS heap (after a full GC) must stay within 24 MiB and 8 MiB. The full
// run (10,000 calls, 1,000 cycles) is `npm run soak`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from './helpers/soak.mjs';

test('1,500 mixed calls and 120 create/dispose cycles leave wasm memory and process memory flat', async (t) => {
  const { ok, failures, report } = await runSoak({
    calls: 1_500,
    cycles: 120,
    every: 250,
    everyCycle: 20,
    log: (line) => t.diagnostic(line),
  });
  for (const line of report) t.diagnostic(line);
  assert.ok(ok, failures.join('; '));
});

test('the soak notices a leak (negative control: every result kept alive)', async () => {
  const { ok, failures } = await runSoak({ calls: 600, cycles: 0, every: 100, warmupCalls: 150, leak: true });
  assert.equal(ok, false, 'a run that keeps every result passed the leak check');
  assert.match(failures.join('; '), /rss grew by|JS heap grew by/);
});
