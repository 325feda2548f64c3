// The raw-pointer exports of the kernel module (assembly/index.ts), typed, and their instantiation.

export interface Kernels {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  reset(): void;
  mark(): number;
  resetTo(end: number): void;
  findNonFinite(ptr: number, n: number): number;
  addF32(dst: number, src: number, n: number): void;
  packOperand(src: number, rows8: number, cp: number, dst: number): void;
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
  accumulateWeighted(
    w: number,
    rows4: number,
    cols: number,
    stride: number,
    b: number,
    groupRows: number,
    cp: number,
    out: number,
  ): void;
  accumulateWeightedTransposed(
    w: number,
    rows: number,
    cols4: number,
    stride: number,
    a: number,
    groupRows: number,
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
  /** Bytes the kernels allocate per image (the memory estimates read the kernels' own formulas). */
  patchContrastKernelBytes(n: number, c: number): number;
  infoNCEKernelBytes(j: number, m: number, c: number, positive: number): number;
  patchContrastPool(
    features: number,
    mask: number,
    c: number,
    h: number,
    w: number,
    p: number,
    labels: number,
    rowOf: number,
    z: number,
    norms: number,
  ): number;
  patchContrastLayout(mask: number, h: number, w: number, p: number, labels: number, rowOf: number): number;
  patchContrastPoolChannels(
    features: number,
    c0: number,
    count: number,
    c: number,
    h: number,
    w: number,
    p: number,
    rowOf: number,
    z: number,
  ): void;
  patchContrastNormalize(z: number, rows: number, c: number, norms: number): void;
  patchContrastAttach(
    z: number,
    packed: number,
    n: number,
    c: number,
    pristine: number,
    variant: number,
    temperature: number,
    cmax: number,
    statA: number,
    statB: number,
    invP: number,
    dz: number,
  ): number;
  patchContrastColumnMax(state: number, s0: number, s1: number): void;
  patchContrastNegatives(state: number, s0: number, s1: number, colMax: number, colSum: number): void;
  patchContrastPositives(
    state: number,
    s0: number,
    s1: number,
    lossSum: number,
    bSum: number,
    gradScale: number,
    grad: number,
  ): void;
  patchContrastNegativeGrad(state: number, s0: number, s1: number, gradScale: number): void;
  patchContrastBackward(
    z: number,
    dz: number,
    norms: number,
    rowOf: number,
    rows: number,
    c: number,
    h: number,
    w: number,
    p: number,
    grad: number,
  ): void;
  patchContrastBackwardRows(z: number, dz: number, norms: number, rows: number, c: number): void;
  patchContrastUnpoolChannels(
    dz: number,
    c0: number,
    count: number,
    c: number,
    h: number,
    w: number,
    p: number,
    rowOf: number,
    grad: number,
  ): void;
  infoNCEGather(
    features: number,
    c: number,
    hw: number,
    queries: number,
    j: number,
    negatives: number,
    m: number,
    u: number,
    x: number,
    normsU: number,
    normsX: number,
  ): void;
  infoNCEGatherChannels(
    features: number,
    c0: number,
    count: number,
    c: number,
    hw: number,
    queries: number,
    j: number,
    negatives: number,
    m: number,
    u: number,
    x: number,
  ): void;
  infoNCENormalize(u: number, j: number, x: number, m: number, c: number, normsU: number, normsX: number): void;
  infoNCEMeanLogit(
    u: number,
    j: number,
    c: number,
    temperature: number,
    sumU: number,
    l0: number,
    perQueryPositive: number,
  ): void;
  infoNCEAttach(
    u: number,
    packedU: number,
    j: number,
    packedX: number,
    m: number,
    c: number,
    temperature: number,
    positive: number,
    l0: number,
    dl0: number,
    du: number,
    dx: number,
  ): number;
  infoNCEStrips(state: number, s0: number, s1: number, gradScale: number, perQuery: number, grad: number): void;
  infoNCEQueryLse(state: number, s0: number, s1: number, lseMax: number, lseSum: number): void;
  infoNCEQueryGrad(state: number, s0: number, s1: number, lse: number): void;
  infoNCEBackward(
    u: number,
    du: number,
    x: number,
    dx: number,
    j: number,
    m: number,
    c: number,
    hw: number,
    queries: number,
    negatives: number,
    normsU: number,
    normsX: number,
    positive: number,
    temperature: number,
    sumU: number,
    dl0: number,
    grad: number,
  ): void;
  infoNCEBackwardRows(
    u: number,
    du: number,
    x: number,
    dx: number,
    j: number,
    m: number,
    c: number,
    normsU: number,
    normsX: number,
    positive: number,
    temperature: number,
    sumU: number,
    dl0: number,
  ): void;
  infoNCEScatterChannels(
    du: number,
    dx: number,
    c0: number,
    count: number,
    c: number,
    hw: number,
    queries: number,
    j: number,
    negatives: number,
    m: number,
    grad: number,
  ): void;
}

/** Instantiates a compiled kernel module with its own memory. */
export async function instantiateKernels(module: WebAssembly.Module): Promise<Kernels> {
  const instance = await WebAssembly.instantiate(module, {});
  return instance.exports as unknown as Kernels;
}
