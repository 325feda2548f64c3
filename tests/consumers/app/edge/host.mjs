// The host of the edge-runtime scenario (run by Node 22+): Vercel's edge-runtime VM with wasm code
// generation off, as on Vercel's edge (a wasm module must come compiled, as the bundler's import of
// a .wasm file gives it; compiling bytes at run time throws). The host compiles dist/*.wasm and binds
// them; the bundle (edge/function.js) reads them. Prints the checks' result as one line of JSON.
// Usage: node host.mjs <bundle.js> <dir of the .wasm files> <edge-runtime's package dir>
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [bundle, wasmDir, edgeRuntimeDir] = process.argv.slice(2);
const { EdgeRuntime } = createRequire(join(edgeRuntimeDir, 'package.json'))('edge-runtime');
const wasm = {};
for (const name of ['kernels.simd.wasm', 'kernels.relaxed.wasm'])
  wasm[name] = await WebAssembly.compile(readFileSync(join(wasmDir, name)));
const runtime = new EdgeRuntime({
  codeGeneration: { strings: false, wasm: false },
  extend: (context) => Object.assign(context, { __wasmModules: wasm }),
  initialCode: readFileSync(bundle, 'utf8'),
});
console.log(JSON.stringify(await runtime.evaluate('runChecks()')));
