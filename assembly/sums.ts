// Float32 sums of partial results, for the wrapper's merges of a pass's parts in part order
// (docs/design.md §9): a SIMD loop is several times faster than the same adds in JavaScript, and
// gives the same IEEE sums.

/** dst[i] += src[i] for i < n (float32). */
export function addF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}
