// Builds dist/: both wasm targets (asc), the ESM bundles (esbuild) and the type declarations (tsc).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
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
await esbuild.build({
  ...common,
  entryPoints: { index: 'src/index.ts' },
  outdir: 'dist',
  loader: { '.wasm': 'binary' },
});
await esbuild.build({
  ...common,
  entryPoints: { cli: 'src/cli.ts' },
  outdir: 'dist',
  platform: 'node',
  target: 'node20',
  loader: { '.wasm': 'binary' },
  banner: { js: '#!/usr/bin/env node' },
});
chmodSync('dist/cli.js', 0o755);
await esbuild.build({ ...common, entryPoints: { worker: 'src/worker.ts' }, outdir: 'dist' });
await esbuild.build({
  ...common,
  entryPoints: { 'index.edge': 'src/index.edge.ts' },
  outdir: 'dist',
  external: ['node:*', '*.wasm'],
});
// forgery-losses/tfjs: @tensorflow/tfjs-core stays a (peer) import, and the engine is dist/index.js itself.
const indexExternal = {
  name: 'index-external',
  setup: (b) => b.onResolve({ filter: /^\.\/index$/ }, () => ({ path: './index.js', external: true })),
};
await esbuild.build({
  ...common,
  entryPoints: { tfjs: 'src/tfjs.ts' },
  outdir: 'dist',
  external: ['node:*', '@tensorflow/tfjs-core'],
  plugins: [indexExternal],
});
copyFileSync('build/kernels.simd.wasm', 'dist/kernels.simd.wasm');
copyFileSync('build/kernels.relaxed.wasm', 'dist/kernels.relaxed.wasm');
run(bin('tsc'), ['-p', 'tsconfig.json']);
