// A bump arena over linear memory. The TypeScript workspace allocates every buffer of a call (or
// of one image) with `alloc`, then calls `reset` so that nothing outlives the call. It is written
// here rather than taken from the stub runtime, whose blocks stop at 1 GiB: one buffer may use all
// of wasm32's 4 GiB. The TypeScript side reserves the memory a call needs before it starts, so
// `alloc` grows the memory only when called on its own (as in the kernel unit tests).

// @ts-ignore: __heap_base is a compiler builtin (the end of the static data)
const BASE: usize = (__heap_base + 15) & ~15;
let offset: usize = BASE;

/** Allocates `bytes` bytes, 16-byte aligned, growing the memory when needed. */
export function alloc(bytes: usize): usize {
  const ptr = offset;
  const end = (<u64>ptr + <u64>bytes + 15) & ~(<u64>15);
  const have = (<u64>memory.size()) << 16;
  if (end > have && memory.grow(<i32>((end - have + 0xffff) >> 16)) < 0) unreachable();
  offset = <usize>end;
  return ptr;
}

/** Frees every allocation at once. */
export function reset(): void {
  offset = BASE;
}

/** The arena's current end: a later `resetTo` frees what was allocated after it. */
export function mark(): usize {
  return offset;
}

/** Frees every allocation made since `mark` returned `end`. */
export function resetTo(end: usize): void {
  offset = end;
}
