// The numbers that the kernels (AssemblyScript, which imports this file), the TypeScript runtime
// and the WGSL shaders (which interpolate them) must agree on. Plain literals only: the file is
// compiled both as TypeScript and as AssemblyScript (where an integer literal is an i32).

/** patchContrast's variants (docs/spec.md §4). */
export const VARIANT_EXACT = 0;
export const VARIANT_CFLNET = 1;

/** infoNCE's positive terms (docs/spec.md §5). */
export const POSITIVE_MEAN_LOGIT = 0;
export const POSITIVE_MEAN_EXP = 1;

/** crossEntropy's index targets, read in the caller's own type. */
export const TARGET_I32 = 0;
export const TARGET_U8 = 1;
export const TARGET_U16 = 2;

/** Rows of similarities produced and consumed at a time: a strip is STRIP_ROWS × (row length). */
export const STRIP_ROWS = 32;
