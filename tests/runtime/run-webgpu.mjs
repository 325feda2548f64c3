// Runs the WebGPU suite under Deno (navigator.gpu over Mesa's Vulkan lavapipe) and prints one line
// of JSON for tests/webgpu.test.mjs. An optional argument names another build of the package; the default
// is the test-only entry (src/testing.ts), whose fault injection the suite uses.
import { readFileSync } from 'node:fs';
import { runDeviceSuite } from './webgpu-device.mjs';
import { runWebGpuSuite } from './webgpu.mjs';

const pkg = await import(globalThis.Deno?.args?.[0] ?? '../../build/testing.js');
const fixtures = new URL('../fixtures/', import.meta.url);
const loadCase = async (loss, name) => JSON.parse(readFileSync(new URL(`${loss}/${name}.json`, fixtures), 'utf8'));
const result = await runWebGpuSuite(pkg, loadCase);
const device = result.skipped ? result : await runDeviceSuite(pkg, loadCase);
console.log(JSON.stringify({ ...result, device }));
// A destroyed device can leave Deno's WebGPU threads holding the event loop open.
globalThis.Deno?.exit(0);
