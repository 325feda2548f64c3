// Builds dist/: both wasm targets (asc), the ESM bundles (esbuild) and the type declarations (tsc).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import * as esbuild from 'esbuild';

const bin = (name) => new URL(`./node_modules/.bin/${name}`, import.meta.url).pathname;
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });

run(bin('asc'), ['--config', 'asconfig.json', '--target', 'simd']);
run(bin('asc'), ['--config', 'asconfig.json', '--target', 'relaxed']);
rmSync('dist', { recursive: true, force: true });
mkdirSync('dist', { recursive: true });

const common = {
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  external: ['node:*'],
  legalComments: 'none',
};

// The browser entry's worker script, as text (src/runtime/worker-script.ts inlines it): the same
// src/worker.ts, minified, its node:worker_threads branch (dead in a Web Worker) stubbed out.
const webWorker = await esbuild.build({
  ...common,
  entryPoints: ['src/worker.ts'],
  minify: true,
  write: false,
  plugins: [
    {
      name: 'no-node',
      setup: (b) => {
        b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'no-node' }));
        b.onLoad({ filter: /.*/, namespace: 'no-node' }, () => ({ contents: 'export const parentPort = null;' }));
      },
    },
  ],
});
writeFileSync('build/worker.web.txt', webWorker.outputFiles[0].text);

// The entries, one build with code splitting: they share the engine's chunks, and each wasm build,
// the WebGPU backend and the worker script are chunks imported only when used. The edge entry's
// .wasm imports stay imports of the files beside it (dist/kernels.*.wasm).
const edgeWasm = {
  name: 'edge-wasm',
  setup: (b) =>
    b.onResolve({ filter: /^\.\/kernels\.(simd|relaxed)\.wasm$/ }, (a) => ({ path: a.path, external: true })),
};
await esbuild.build({
  ...common,
  entryPoints: { index: 'src/index.ts', 'index.browser': 'src/index.browser.ts', 'index.edge': 'src/index.edge.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  loader: { '.wasm': 'binary', '.txt': 'text' },
  plugins: [edgeWasm],
});
// Node's, Deno's and Bun's worker (the default entry's), a file beside it.
await esbuild.build({ ...common, entryPoints: { worker: 'src/worker.ts' }, outdir: 'dist' });

/** Imports of src/index.ts stay imports of the built entry `file` (one engine, one default engine). */
const entryExternal = (file) => ({
  name: 'entry-external',
  setup: (b) =>
    b.onResolve({ filter: /(^|\/)index(\.js)?$/ }, (a) =>
      resolve(a.resolveDir, a.path).replace(/\.js$/, '') === resolve('src/index')
        ? { path: file, external: true }
        : undefined,
    ),
});
await esbuild.build({
  ...common,
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  platform: 'node',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
  plugins: [entryExternal('./index.js')],
});
chmodSync('dist/cli.js', 0o755);
// forgery-losses/tfjs: @tensorflow/tfjs-core stays a (peer) import; the engine is the package's
// entry itself, the default one or (tfjs.browser.js) the browser one.
for (const [name, entry] of [
  ['tfjs', './index.js'],
  ['tfjs.browser', './index.browser.js'],
]) {
  await esbuild.build({
    ...common,
    entryPoints: { [name]: 'src/tfjs.ts' },
    outdir: 'dist',
    external: ['node:*', '@tensorflow/tfjs-core'],
    plugins: [entryExternal(entry)],
  });
}
// The test-only entry (src/testing.ts): the package plus fault injection; never in dist/.
await esbuild.build({
  ...common,
  entryPoints: { testing: 'src/testing.ts' },
  outdir: 'build',
  loader: { '.wasm': 'binary', '.txt': 'text' },
});
copyFileSync('build/kernels.simd.wasm', 'dist/kernels.simd.wasm');
copyFileSync('build/kernels.relaxed.wasm', 'dist/kernels.relaxed.wasm');
run(bin('tsc'), ['-p', 'tsconfig.json']);
rmSync('dist/types/testing.d.ts');
// Only the declarations that the public entries reach are published (the others describe internals).
const keep = new Set();
const visit = (file) => {
  if (keep.has(file)) return;
  keep.add(file);
  for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\()['"](\.{1,2}\/[^'"]+)\.js['"]/g))
    visit(resolve(dirname(file), `${spec}.d.ts`));
};
for (const entry of ['index', 'index.browser', 'index.edge', 'tfjs']) visit(resolve(`dist/types/${entry}.d.ts`));
for (const file of readdirSync('dist/types', { recursive: true }))
  if (file.endsWith('.d.ts') && !keep.has(resolve('dist/types', file))) rmSync(resolve('dist/types', file));
for (const dir of readdirSync('dist/types', { recursive: true }).sort().reverse())
  if (statSync(resolve('dist/types', dir)).isDirectory() && readdirSync(resolve('dist/types', dir)).length === 0)
    rmSync(resolve('dist/types', dir), { recursive: true });
