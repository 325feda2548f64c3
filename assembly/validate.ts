// Input scans shared by every loss: they run in wasm because a JS loop over a 200 MB feature map
// costs more than the loss itself. Each returns the first offending index, or -1.

/** First index of a NaN or ±Infinity among n floats, or -1. */
export function findNonFinite(ptr: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = v128.load(ptr + (<usize>i << 2));
    if (v128.any_true(f32x4.ne(f32x4.sub(x, x), zero))) break;
  }
  for (; i < n; i++) {
    const x = load<f32>(ptr + (<usize>i << 2));
    if (x - x != 0) return i;
  }
  return -1;
}

/** First index of a value outside [0, 1] (NaN included) among n floats, or -1. */
export function findOutsideUnit(ptr: usize, n: i32): i32 {
  const zero = f32x4.splat(0), one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = v128.load(ptr + (<usize>i << 2));
    if (!i32x4.all_true(v128.and(f32x4.ge(x, zero), f32x4.le(x, one)))) break;
  }
  for (; i < n; i++) {
    const x = load<f32>(ptr + (<usize>i << 2));
    if (!(x >= 0 && x <= 1)) return i;
  }
  return -1;
}
