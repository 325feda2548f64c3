// Where the compiled kernel modules come from: the default and browser entries compile bytes that
// they import on first use, one build only (sourceFromChunks); the edge entry imports the .wasm
// files as modules (runtimes that forbid compiling bytes at run time).

export interface KernelSource {
  /** The SIMD128 build. */
  simd(): Promise<WebAssembly.Module>;
  /** The SIMD128 + relaxed-SIMD build. */
  relaxed(): Promise<WebAssembly.Module>;
}

/** A source that compiles each build once, on first use. */
export function sourceFromBytes(simd: Uint8Array<ArrayBuffer>, relaxed: Uint8Array<ArrayBuffer>): KernelSource {
  let simdModule: Promise<WebAssembly.Module> | undefined;
  let relaxedModule: Promise<WebAssembly.Module> | undefined;
  return {
    simd: () => (simdModule ??= WebAssembly.compile(simd)),
    relaxed: () => (relaxedModule ??= WebAssembly.compile(relaxed)),
  };
}

/** Each build's bytes in a module of its own, imported (and compiled) only when that build is used. */
export function sourceFromChunks(): KernelSource {
  let simdModule: Promise<WebAssembly.Module> | undefined;
  let relaxedModule: Promise<WebAssembly.Module> | undefined;
  return {
    simd: () => (simdModule ??= import('./wasm-simd.js').then((m) => WebAssembly.compile(m.default))),
    relaxed: () => (relaxedModule ??= import('./wasm-relaxed.js').then((m) => WebAssembly.compile(m.default))),
  };
}

export function sourceFromModules(simd: WebAssembly.Module, relaxed: WebAssembly.Module): KernelSource {
  return { simd: async () => simd, relaxed: async () => relaxed };
}
