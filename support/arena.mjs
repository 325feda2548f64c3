// Buffers in a kernel module's memory, for the scripts that drive its raw exports
// (tests/steps.test.mjs, bench/passes.mjs) as src/runtime/wasm/arena.ts does for the package.

const roundUp8 = (n) => (n + 7) & ~7;

/**
 * Row `row` of the groups of a packed operand of `rows8` rows of cp channels, as the accumulations
 * take it (assembly/similarity.ts groupRow): the groups follow the panels.
 */
export const groupRow = (packedPtr, rows8, cp, row) => packedPtr + rows8 * cp * 4 + row * 32;

/** Helpers over the exports `k` of an instantiated kernel module. */
export function arena(k) {
  /** Copies a typed array in, byte for byte; returns its address. */
  const put = (array) => {
    const ptr = k.alloc(array.byteLength);
    new Uint8Array(k.memory.buffer, ptr, array.byteLength).set(
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
    );
    return ptr;
  };
  return {
    put,
    /** `bytes` bytes set to zero. */
    zeros(bytes) {
      const ptr = k.alloc(bytes);
      new Uint8Array(k.memory.buffer, ptr, bytes).fill(0);
      return ptr;
    },
    /** The packed forms (packOperand) of the `rows8 × cp` row matrix at `ptr`: their address. */
    packed(ptr, rows8, cp) {
      const out = k.alloc(2 * rows8 * cp * 4);
      k.packOperand(ptr, rows8, cp, out);
      return out;
    },
    /** n floats at `ptr` set to `value`. */
    fill(ptr, n, value) {
      new Float32Array(k.memory.buffer, ptr, n).fill(value);
    },
    /** A copy of n floats at `ptr`. */
    f32(ptr, n) {
      return new Float32Array(k.memory.buffer, ptr, n).slice();
    },
    /**
     * InfoNCE's operands for one image of c channels (C × hw features; every pixel of `mask`, 0
     * pristine and 1 forged): the features and pixel lists put in, U, X and their norms allocated,
     * and `gather()`, which runs infoNCEGather into them.
     */
    nceOperands(features, mask, c, hw) {
      const queries = Int32Array.from(mask.keys()).filter((i) => mask[i] === 0);
      const negatives = Int32Array.from(mask.keys()).filter((i) => mask[i] === 1);
      const [j, m, cp] = [queries.length, negatives.length, roundUp8(c)];
      const [jp, mp] = [roundUp8(j), roundUp8(m)];
      const o = { j, m, jp, mp, cp, features: put(features), queries: put(queries), negatives: put(negatives) };
      o.u = k.alloc(jp * cp * 4);
      o.x = k.alloc(mp * cp * 4);
      o.normsU = k.alloc(jp * 8);
      o.normsX = k.alloc(mp * 8);
      o.gather = () => k.infoNCEGather(o.features, c, hw, o.queries, j, o.negatives, m, o.u, o.x, o.normsU, o.normsX);
      return o;
    },
  };
}
