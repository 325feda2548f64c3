// Input scan shared by every loss: it runs in wasm because a JS loop over a 200 MB feature map
// costs a noticeable share of the loss itself. It returns the first offending index, or -1.

/** First index of a NaN or ±Infinity among n floats, or -1. */
export function findNonFinite(ptr: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = v128.load(ptr + ((<usize>i) << 2));
    if (v128.any_true(f32x4.ne(f32x4.sub(x, x), zero))) break;
  }
  for (; i < n; i++) {
    const x = load<f32>(ptr + ((<usize>i) << 2));
    if (x - x != 0) return i;
  }
  return -1;
}
