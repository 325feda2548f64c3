// Arena allocation over the stub runtime. The TypeScript workspace allocates every buffer of a call
// (or of one image) with `alloc`, then calls `reset` so that nothing outlives the call.

/** Allocates `bytes` bytes, 16-byte aligned, growing the memory when needed. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Frees every allocation at once (the stub runtime is an arena). */
export function reset(): void {
  __reset();
}
