// The bench command: hands over to bench/compare.mjs, which lives in a checkout of the package
// (it is not among the published files), with the remaining arguments. An installed package does
// not offer it (benchAvailable: the command and its help lines are left out).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCH_HELP } from './usage.js';

// dist/cli.js is the bundle this module ends up in; the package root is its parent.
const COMPARE = fileURLToPath(new URL('../bench/compare.mjs', import.meta.url));

/** Whether this copy of the package has the benchmark (a checkout does, an installed package does not). */
export function benchAvailable(): boolean {
  return existsSync(COMPARE);
}

/** Runs `forgery-losses bench ...` (args after 'bench'); returns the benchmark's exit code. */
export function benchCommand(args: string[]): number {
  if (args[0] === '--help' || args[0] === '-h') {
    console.log(BENCH_HELP);
    return 0;
  }
  if (!existsSync(COMPARE)) {
    console.error(
      `forgery-losses: bench is not available: ${COMPARE} does not exist (it comes with a checkout of the package)`,
    );
    return 1;
  }
  const passed = args[0] === '--' ? args.slice(1) : args;
  const child = spawnSync(process.execPath, [COMPARE, ...passed], { stdio: 'inherit' });
  if (child.error) throw child.error;
  return child.status ?? 1;
}
