// The forgery-losses command line (bundled as dist/cli.js): demo, eval and bench commands.

import { readFileSync } from 'node:fs';
import { benchAvailable, benchCommand } from './cli/bench.js';
import { demoCommand } from './cli/demo.js';
import { exitCodeOf, messageOf, UsageError } from './cli/errors.js';
import { evalCommand } from './cli/evaluate.js';
import { TOOL_HELP } from './cli/usage.js';

// bench only where bench/compare.mjs is (a checkout); an installed package neither lists nor runs it.
const HAS_BENCH = benchAvailable();
const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  demo: demoCommand,
  eval: evalCommand,
  ...(HAS_BENCH ? { bench: benchCommand } : {}),
};
const HELP = HAS_BENCH ? TOOL_HELP : TOOL_HELP.replace(/\n {2}(forgery-losses )?bench .*/g, '');

function version(): string {
  // package.json sits next to dist/, in a checkout and in an installed package alike.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `forgery-losses ${pkg.version}`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h') {
    console.log(HELP);
    return 0;
  }
  if (first === '--version' || first === '-v') {
    console.log(version());
    return 0;
  }
  if (first === undefined)
    throw new UsageError(`missing command: ${Object.keys(COMMANDS).join(', ')} (see forgery-losses --help)`);
  if (first === 'bench' && !HAS_BENCH)
    throw new UsageError(
      "'bench' runs bench/compare.mjs, which comes with a checkout of the repository, not with the installed package",
    );
  if (!Object.hasOwn(COMMANDS, first))
    throw new UsageError(
      `unknown command '${first}'; expected ${Object.keys(COMMANDS).join(', ')} (see forgery-losses --help)`,
    );
  return COMMANDS[first](rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`forgery-losses: ${messageOf(error)}`);
    process.exitCode = exitCodeOf(error);
  },
);
