// The consumer suite's workspace: its tools (tests/consumers/package.json, exact versions, with
// their lock file) installed once into node_modules/.cache and reused while those files do not
// change; the package packed as it would be published; and a fresh project, outside the
// repository, that installs the tarball from its file and its other dependencies from the registry
// (npm's cache makes a warm run fast).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SUITE = join(ROOT, 'tests/consumers');
const CACHE = join(ROOT, 'node_modules/.cache/forgery-losses-consumers');

/**
 * The environment of the suite's own npm commands: as a user's shell has it. Under `npm test`, npm
 * puts node_modules/.bin first on PATH (where a dependency's old npm lives) and passes its own
 * settings as npm_* variables; neither may reach the consumer projects.
 */
const userEnv = () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.endsWith('node_modules/.bin'))
    .join(':');
  return { ...env, npm_config_update_notifier: 'false' };
};

const npm = (args, cwd) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 900_000,
    env: userEnv(),
  });

/** The tools' directory: installed by `npm ci` on first use, keyed by the suite's package files. */
export function tools() {
  const files = ['package.json', 'package-lock.json'].map((f) => readFileSync(join(SUITE, f)));
  const key = createHash('sha256').update(Buffer.concat(files)).digest('hex').slice(0, 16);
  const dir = join(CACHE, `tools-${key}`);
  if (!existsSync(join(dir, 'node_modules/.installed'))) {
    mkdirSync(CACHE, { recursive: true });
    for (const old of readdirSync(CACHE)) if (old.startsWith('tools-')) rmSync(join(CACHE, old), { recursive: true });
    const staging = `${dir}.partial`;
    mkdirSync(staging, { recursive: true });
    cpSync(join(SUITE, 'package.json'), join(staging, 'package.json'));
    cpSync(join(SUITE, 'package-lock.json'), join(staging, 'package-lock.json'));
    // No install scripts: every tool here works without them (the binaries come in packages).
    npm(['ci', '--ignore-scripts'], staging);
    execFileSync('touch', [join(staging, 'node_modules/.installed')]);
    renameSync(staging, dir);
  }
  const bin = (name) => join(dir, 'node_modules/.bin', name);
  return {
    dir,
    module: (name) => join(dir, 'node_modules', name),
    bin,
    node22: join(dir, 'node_modules/node22/bin/node'),
    node24: join(dir, 'node_modules/node24/bin/node'),
    tsc: bin('tsc'),
    tsc5: join(dir, 'node_modules/typescript5/bin/tsc'),
  };
}

/** Newest modification time under `path` (a file or a directory tree). */
function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/**
 * Packs the package as `npm publish` would (its prepack script is the build, which `npm test`
 * has just run; running it again here would rewrite dist/ under the other test files), after
 * checking that dist/ is newer than its sources. Returns the tarball's path and its listing.
 */
export function pack(dest) {
  const built = existsSync(join(ROOT, 'dist/index.js')) ? newest(join(ROOT, 'dist')) : 0;
  const inputs = ['src', 'assembly', 'build.mjs', 'support/sample.mjs', 'support/mulberry32.mjs'];
  const sources = Math.max(...inputs.map((p) => newest(join(ROOT, p))));
  if (built < sources) throw new Error('dist/ is older than the sources: run `npm run build` first (npm test does)');
  const [info] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dest], ROOT));
  return { tarball: join(dest, info.filename), info };
}

/** A fresh consumer project (tests/consumers/app) in a new temporary directory, its dependencies installed. */
export function project(tarball) {
  const dir = join(tmpdir(), `forgery-losses-consumer-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(SUITE, 'app'), join(dir, 'app'), { recursive: true });
  cpSync(tarball, join(dir, 'forgery-losses.tgz'));
  npm(['install', '--prefer-offline', '--ignore-scripts', '--no-package-lock'], join(dir, 'app'));
  return { dir, app: join(dir, 'app'), out: join(dir, 'out') };
}
