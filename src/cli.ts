// The forgery-losses command line (bundled as dist/cli.js): demo, eval and bench commands.

import { readFileSync } from 'node:fs';
import { benchCommand } from './cli/bench';
import { demoCommand } from './cli/demo';
import { exitCodeOf, messageOf, UsageError } from './cli/errors';
import { evalCommand } from './cli/evaluate';
import { TOOL_HELP } from './cli/usage';

const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  demo: demoCommand,
  eval: evalCommand,
  bench: benchCommand,
};

function version(): string {
  // package.json sits next to dist/, in a checkout and in an installed package alike.
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `forgery-losses ${pkg.version}`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h') {
    console.log(TOOL_HELP);
    return 0;
  }
  if (first === '--version' || first === '-v') {
    console.log(version());
    return 0;
  }
  if (first === undefined)
    throw new UsageError(`missing command: ${Object.keys(COMMANDS).join(', ')} (see forgery-losses --help)`);
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
