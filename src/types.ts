// Public option and result types: the contract of DESIGN.md section 1.

/** NCHW shape `[B, C, H, W]`. */
export type Shape4 = readonly [number, number, number, number];

/** What actually ran a call. */
export type BackendName = 'wasm-simd' | 'wasm-relaxed-simd' | 'webgpu';

export type Mask = Float32Array | Uint8Array;

export interface CrossEntropyOptions {
  logits: Float32Array;
  shape: Shape4;
  /** (B, H, W) class indices; exactly one of `target` / `targetProbs`. */
  target?: Int32Array | Uint8Array | Uint16Array;
  /** (B, C, H, W) probabilities. */
  targetProbs?: Float32Array;
  weight?: ArrayLike<number>;
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum' | 'none';
  labelSmoothing?: number;
  grad?: boolean;
}

export interface CrossEntropyResult {
  /** A number for 'mean' and 'sum'; the (B, H, W) per-element losses for 'none'. */
  loss: number | Float32Array;
  grad?: { logits: Float32Array };
  backend: BackendName;
}

export interface PatchContrastOptions {
  features: Float32Array;
  mask: Mask;
  shape: Shape4;
  patchSize?: number;
  temperature?: number;
  variant?: 'exact' | 'cflnet';
  grad?: boolean;
}

export interface PatchContrastResult {
  loss: number;
  perImageLoss: Float64Array;
  /** (B, N) per-anchor losses L_i. */
  perPatchLoss: Float32Array;
  /** (B, N) patch labels, 1 = forged. */
  patchLabels: Uint8Array;
  grid: [number, number];
  grad?: { features: Float32Array };
  backend: BackendName;
}

export type InfoNCESample =
  | { maxPerClass: number; seed?: number }
  | { pristine: ArrayLike<number>[]; forged: ArrayLike<number>[] };

export interface InfoNCEOptions {
  features: Float32Array;
  mask: Mask;
  shape: Shape4;
  temperature?: number;
  positive?: 'mean-logit' | 'mean-exp';
  sample?: InfoNCESample;
  /**
   * 'image' (default, FOCAL): one dictionary per image, losses averaged over the used images.
   * 'batch': one dictionary for the whole batch, the images stacked vertically (docs/spec.md).
   */
  scope?: 'image' | 'batch';
  grad?: boolean;
}

export interface InfoNCEResult {
  loss: number;
  numUsedImages: number;
  usedImages: boolean[];
  /** `[|Q|, |K|]` per image, as built (skipped images included). */
  queryCounts: [number, number][];
  perImageLoss: (number | null)[];
  /** Per image, loss_a for each query in query order; null when skipped. */
  perQueryLoss: (Float32Array | null)[];
  grad?: { features: Float32Array };
  backend: BackendName;
}

export interface CflObjectiveOptions {
  logits: Float32Array;
  features: Float32Array;
  mask: Mask;
  /** Shape of `features`; logits are (B, 2, H, W). */
  shape: Shape4;
  weight?: readonly [number, number];
  alpha?: number;
  patchSize?: number;
  temperature?: number;
  grad?: boolean;
}

export interface CflObjectiveResult {
  loss: number;
  ceLoss: number;
  contrastLoss: number;
  grad?: { logits: Float32Array; features: Float32Array };
  backend: BackendName;
}

export interface EngineOptions {
  /** Worker threads: a count, or 'auto' for the core count (capped). 1 runs in the calling thread. */
  threads?: number | 'auto';
  backend?: 'auto' | 'wasm' | 'webgpu';
  /** Which wasm build to run: the relaxed-SIMD one is chosen by 'auto' wherever it validates. */
  wasmBuild?: 'auto' | 'simd' | 'relaxed-simd';
  /** Refuse calls whose wasm memory would exceed this many bytes (default and cap: 4 GiB). */
  maxMemoryBytes?: number;
  /**
   * Tuning of backend 'auto' (README, "Backends"): a call runs on WebGPU when the cost model
   * expects it `margin` times faster than wasm (default 2; 0 sends every contrastive call to the
   * GPU). Fallback (software) adapters are skipped unless `allowFallbackAdapter` is true.
   */
  webgpuAuto?: { margin?: number; allowFallbackAdapter?: boolean };
}

/** The WebGPU adapter an engine found (backend 'webgpu' or 'auto'). */
export interface WebGpuAdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  /** Reported as a fallback adapter, or a known CPU implementation (llvmpipe/lavapipe, SwiftShader, WARP). */
  isFallbackAdapter: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** What the engine found and uses. */
export interface EngineInfo {
  backend: BackendName;
  threads: number;
  features: { simd: boolean; relaxedSimd: boolean; workers: boolean; crossOriginIsolated: boolean; webgpu: boolean };
  /** Why fewer threads than asked run, when that happens; how backend 'auto' decides. */
  notes: string[];
  /** The WebGPU adapter found for backend 'webgpu' or 'auto', or null (backend 'wasm', or none). */
  webgpu: WebGpuAdapterInfo | null;
}

export interface Engine {
  readonly info: EngineInfo;
  crossEntropy(options: CrossEntropyOptions): Promise<CrossEntropyResult>;
  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult>;
  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult>;
  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult>;
  /** Bytes of wasm memory the engine holds now. */
  memoryBytes(): number;
  dispose(): Promise<void>;
}
