// mulberry32, the seeded generator of the dev scripts: benchmark inputs (cases.mjs), the bundled
// sample (scripts/make-sample.mjs) and the training examples. The package ships its own copy
// (src/sampler.ts); tests/fuzz/materialize.mjs keeps a deliberately independent one.

/** mulberry32: a 32-bit state PRNG returning floats in [0, 1). */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
