// Child processes of the benchmark scripts: one run, or two copies at once, each printing JSON lines;
// and the command line of bench/run-package.mjs, which times one call.
import { spawn, spawnSync } from 'node:child_process';

/** Runs a command to its end; returns the JSON lines it printed. */
export function json(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 900_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed:\n${(r.stderr ?? '').slice(-2000)}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

/** Runs two copies of a command at once; resolves to the last JSON line of each. */
export function jsonPair(cmd, argv) {
  const one = () =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`${argv[0]}: exit ${code}`)),
      );
    });
  return Promise.all([one(), one()]);
}

/**
 * The command line of bench/run-package.mjs for one call under this Node: value + gradient of `name`'s
 * `variant` with `build` on `threads` threads, the median of `runs` runs (Node 20 validates the relaxed
 * build only with its flag).
 */
export function packageArgv({ name, variant, build, threads, runs, small = false, sync = false }) {
  const flags =
    build === 'relaxed-simd' && process.versions.node.startsWith('20.') ? ['--experimental-wasm-relaxed-simd'] : [];
  const script = new URL('run-package.mjs', import.meta.url).pathname;
  return [
    ...flags,
    script,
    name,
    variant,
    build,
    String(threads),
    String(runs),
    ...(small ? ['--small'] : []),
    ...(sync ? ['--sync'] : []),
  ];
}
