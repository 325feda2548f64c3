// The kernel module's exports as the runtime calls them, and their instantiation. Their types
// come from the AssemblyScript build itself (exports.ts, which build.mjs generates from asc's
// typings), so a signature changed in assembly/ is a type error here, not a silent mismatch.

import type { KernelExports } from './exports.js';

export type Kernels = KernelExports;

/** Instantiates a compiled kernel module with its own memory. */
export async function instantiateKernels(module: WebAssembly.Module): Promise<Kernels> {
  const instance = await WebAssembly.instantiate(module, {});
  return instance.exports as unknown as Kernels;
}
