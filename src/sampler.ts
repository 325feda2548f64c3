// The seeded pixel sampler of infoNCE (docs/spec.md §5.4). It runs in TypeScript so that every
// backend and thread count sees the same pixels: image b uses mulberry32 seeded with
// (seed + 0x9E3779B9·b) mod 2³², draws the pristine sample and then the forged one, each by a
// partial Fisher–Yates over the class's pixel indices in ascending order.

/** mulberry32: a 32-bit state generator returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The generator of image `b`. */
export function imageGenerator(seed: number, b: number): () => number {
  return mulberry32((seed + Math.imul(0x9e3779b9, b)) >>> 0);
}

/** The first k = min(n, maxPerClass) entries of a partial Fisher–Yates shuffle of `indices`. */
export function drawSample(indices: Int32Array, maxPerClass: number, rand: () => number): Int32Array {
  const n = indices.length,
    k = Math.min(n, maxPerClass);
  const a = indices.slice();
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a.subarray(0, k);
}
