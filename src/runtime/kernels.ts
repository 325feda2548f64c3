// The raw-pointer exports of the kernel module (assembly/index.ts), typed, and their instantiation.

export interface Kernels {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  reset(): void;
  findNonFinite(ptr: number, n: number): number;
  expArray(src: number, dst: number, n: number): void;
  logArray(src: number, dst: number, n: number): void;
  hsumTest(src: number): number;
  hmaxTest(src: number): number;
  packPanels(src: number, rows8: number, cp: number, dst: number): void;
  similarityStrip(
    a: number,
    rows4: number,
    panels: number,
    nPanels: number,
    cp: number,
    scale: number,
    strip: number,
    stride: number,
  ): void;
  accumulateWeighted(w: number, rows4: number, cols: number, stride: number, b: number, cp: number, out: number): void;
  accumulateWeightedTransposed(
    w: number,
    rows: number,
    cols4: number,
    stride: number,
    a: number,
    cp: number,
    out: number,
  ): void;
  crossEntropyPrepareTargets(
    src: number,
    kind: number,
    n: number,
    c: number,
    ignoreIndex: number,
    weights: number,
    normalizerOut: number,
    counts: number,
  ): number;
  crossEntropyIndex(
    logits: number,
    target: number,
    kind: number,
    weights: number,
    b: number,
    c: number,
    hw: number,
    ignoreIndex: number,
    smoothing: number,
    gradScale: number,
    perElement: number,
    grad: number,
    scratch: number,
    status: number,
  ): number;
  crossEntropyProbs(
    logits: number,
    probs: number,
    weights: number,
    b: number,
    c: number,
    hw: number,
    smoothing: number,
    gradScale: number,
    perElement: number,
    grad: number,
    scratch: number,
    status: number,
  ): number;
  patchContrastImage(
    features: number,
    mask: number,
    c: number,
    h: number,
    w: number,
    p: number,
    temperature: number,
    variant: number,
    gradScale: number,
    perPatch: number,
    labels: number,
    columnMax: number,
    grad: number,
  ): number;
  infoNCEImage(
    features: number,
    c: number,
    hw: number,
    queries: number,
    j: number,
    negatives: number,
    m: number,
    temperature: number,
    positive: number,
    gradScale: number,
    perQuery: number,
    perQueryPositive: number,
    grad: number,
  ): number;
}

/** Instantiates a compiled kernel module with its own memory. */
export async function instantiateKernels(module: WebAssembly.Module): Promise<Kernels> {
  const instance = await WebAssembly.instantiate(module, {});
  return instance.exports as unknown as Kernels;
}
