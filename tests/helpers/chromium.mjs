// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (browsers are never downloaded), a fresh profile, and the flags that keep it off the network.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--disable-default-apps',
  '--disable-extensions',
];

/** A persistent context in a fresh profile named `prefix`; `webgpu` adds --enable-unsafe-webgpu. */
export async function launchChromium(prefix, { webgpu = false, ...options } = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), prefix)), {
    executablePath: CHROMIUM,
    headless: true,
    ...options,
    args: webgpu ? ['--enable-unsafe-webgpu', ...ARGS] : ARGS,
  });
}
