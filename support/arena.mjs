// Buffers in a kernel module's memory, for the scripts that drive its raw exports
// (tests/steps.test.mjs, bench/passes.mjs) as src/runtime/workspace.ts does for the package.

/** Helpers over the exports `k` of an instantiated kernel module. */
export function arena(k) {
  return {
    /** Copies a typed array in, byte for byte; returns its address. */
    put(array) {
      const ptr = k.alloc(array.byteLength);
      new Uint8Array(k.memory.buffer, ptr, array.byteLength).set(
        new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
      );
      return ptr;
    },
    /** `bytes` bytes set to zero. */
    zeros(bytes) {
      const ptr = k.alloc(bytes);
      new Uint8Array(k.memory.buffer, ptr, bytes).fill(0);
      return ptr;
    },
    /** n floats at `ptr` set to `value`. */
    fill(ptr, n, value) {
      new Float32Array(k.memory.buffer, ptr, n).fill(value);
    },
    /** A copy of n floats at `ptr`. */
    f32(ptr, n) {
      return new Float32Array(k.memory.buffer, ptr, n).slice();
    },
  };
}
