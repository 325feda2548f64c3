// Public option and result types: the contract documented in docs/api.md.

/** NCHW shape `[B, C, H, W]`. */
export type Shape4 = readonly [number, number, number, number];

/** A shape option: `[B, C, H, W]` as a tuple or any array of four numbers (e.g. onnxruntime-web's `tensor.dims`). */
export type Shape = Shape4 | readonly number[];

/** crossEntropy's reductions. */
export type Reduction = 'mean' | 'sum' | 'none';

/** crossEntropy's `loss`: a number for 'mean' and 'sum', the (B, H, W) per-element losses for 'none'. */
export type CrossEntropyLoss<R extends Reduction = Reduction> = [R] extends ['none']
  ? Float32Array
  : 'none' extends R
    ? number | Float32Array
    : number;

/** A result of a call that computed gradients (`grad` omitted or `true`): `grad` is there. */
export type WithGrad<T extends { grad?: unknown }> = T & { grad: NonNullable<T['grad']> };

/** A result of a call with `grad: false`: no gradient. */
export type WithoutGrad<T extends { grad?: unknown }> = Omit<T, 'grad'> & { grad?: undefined };

/** What every loss call takes besides its own options (docs/api.md, "Calls, cancellation and progress"). */
export interface CallOptions {
  /** false skips the backward pass. */
  grad?: boolean;
  /** Stops the call: it rejects with the signal's reason within about 100 ms of work. */
  signal?: AbortSignal;
  /** Called from the calling thread as work finishes; `done` never decreases and ends at `total`. */
  onProgress?: (done: number, total: number) => void;
}

/** A sync call's options: an async call's without `signal` and `onProgress`. */
export type SyncOptions<O extends CallOptions> = Omit<O, 'signal' | 'onProgress'> & {
  signal?: never;
  onProgress?: never;
};

/** What actually ran a call. */
export type BackendName = 'wasm-simd' | 'wasm-relaxed-simd' | 'webgpu';

export type Mask = Float32Array | Uint8Array;

export interface CrossEntropyOptions<R extends Reduction = Reduction> extends CallOptions {
  logits: Float32Array;
  shape: Shape;
  /** (B, H, W) class indices; exactly one of `target` / `targetProbs`. */
  target?: Int32Array | Uint8Array | Uint16Array;
  /** (B, C, H, W) probabilities. */
  targetProbs?: Float32Array;
  weight?: ArrayLike<number>;
  ignoreIndex?: number;
  reduction?: R;
  labelSmoothing?: number;
  /** Write the gradient into this caller-owned array (B·C·H·W floats) instead of a fresh one. */
  gradInto?: { logits?: Float32Array };
}

export interface CrossEntropyResult<R extends Reduction = Reduction> {
  /** A number for 'mean' and 'sum'; the (B, H, W) per-element losses for 'none'. */
  loss: CrossEntropyLoss<R>;
  grad?: { logits: Float32Array };
  backend: BackendName;
}

export interface PatchContrastOptions extends CallOptions {
  features: Float32Array;
  mask: Mask;
  shape: Shape;
  patchSize?: number;
  temperature?: number;
  variant?: 'exact' | 'cflnet';
  /** Write the gradient into this caller-owned array (B·C·H·W floats) instead of a fresh one. */
  gradInto?: { features?: Float32Array };
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

export interface InfoNCEOptions extends CallOptions {
  features: Float32Array;
  mask: Mask;
  shape: Shape;
  temperature?: number;
  positive?: 'mean-logit' | 'mean-exp';
  sample?: InfoNCESample;
  /**
   * 'image' (default, FOCAL): one dictionary per image, losses averaged over the used images.
   * 'batch': one dictionary for the whole batch, the images stacked vertically (docs/spec.md).
   */
  scope?: 'image' | 'batch';
  /** Write the gradient into this caller-owned array (B·C·H·W floats) instead of a fresh one. */
  gradInto?: { features?: Float32Array };
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

export interface CflObjectiveOptions extends CallOptions {
  logits: Float32Array;
  features: Float32Array;
  mask: Mask;
  /** Shape of `features`; logits are (B, 2, H, W). */
  shape: Shape;
  weight?: readonly [number, number];
  alpha?: number;
  patchSize?: number;
  temperature?: number;
  /** Write the gradients into these caller-owned arrays instead of fresh ones. */
  gradInto?: { logits?: Float32Array; features?: Float32Array };
}

export interface CflObjectiveResult {
  loss: number;
  ceLoss: number;
  contrastLoss: number;
  grad?: { logits: Float32Array; features: Float32Array };
  backend: BackendName;
}

// A sync call on the device (createEngine({ backend: 'webgpu', device }), docs/webgpu.md) takes its
// features and logits as GPU buffers and gives its loss and gradient as GPU buffers. The WebGPU
// types are structural: a project without @webgpu/types compiles, and real GPUBuffers fit.

/** A WebGPU GPUBuffer (what the package reads of one). */
export interface GpuBufferLike {
  readonly size: number;
  readonly usage: number;
  readonly mapState?: string;
}

/** A WebGPU GPUDevice (what the package's types read of one). */
export interface GpuDeviceLike {
  readonly lost: Promise<unknown>;
  readonly queue: object;
  createBuffer(...args: never[]): unknown;
}

/** Float32 values in a buffer of the engine's device, laid out as a host array; byteOffset a multiple of 4. */
export interface GpuData {
  buffer: GpuBufferLike;
  byteOffset?: number;
}

/** A result in a buffer of the engine's, float32, valid until the engine's next call on the device. */
export interface GpuOutput {
  buffer: GpuBufferLike;
  byteOffset: number;
  byteLength: number;
}

/** An option set on the device: `fields` as GPU buffers; no gradInto, signal or onProgress. */
export type OnDevice<O, F extends string> = Omit<O, F | 'gradInto' | 'signal' | 'onProgress'> & {
  [K in F]: GpuData;
} & { gradInto?: never; signal?: never; onProgress?: never };

export type CrossEntropyDeviceOptions<R extends Reduction = Reduction> = OnDevice<
  Omit<CrossEntropyOptions<R>, 'targetProbs'>,
  'logits'
> & {
  /** (B, C, H, W) probabilities: on the device, or CPU data uploaded with the call. */
  targetProbs?: GpuData | Float32Array;
};

export interface CrossEntropyDeviceResult {
  /** A float for 'mean' and 'sum'; the (B, H, W) per-element losses for 'none'. */
  loss: GpuOutput;
  grad?: { logits: GpuOutput };
  backend: 'webgpu';
}

export type PatchContrastDeviceOptions = OnDevice<PatchContrastOptions, 'features'>;

export interface PatchContrastDeviceResult {
  loss: GpuOutput;
  /** (B, N) patch labels, 1 = forged (from the mask, on the CPU). */
  patchLabels: Uint8Array;
  grid: [number, number];
  grad?: { features: GpuOutput };
  backend: 'webgpu';
}

export type InfoNCEDeviceOptions = OnDevice<InfoNCEOptions, 'features'>;

export interface InfoNCEDeviceResult {
  loss: GpuOutput;
  numUsedImages: number;
  usedImages: boolean[];
  queryCounts: [number, number][];
  grad?: { features: GpuOutput };
  backend: 'webgpu';
}

export type CflObjectiveDeviceOptions = OnDevice<CflObjectiveOptions, 'logits' | 'features'>;

export interface CflObjectiveDeviceResult {
  loss: GpuOutput;
  grad?: { logits: GpuOutput; features: GpuOutput };
  backend: 'webgpu';
}

export interface EngineOptions {
  /** Worker threads: a count, or 'auto' for the core count (capped). 1 runs in the calling thread. */
  threads?: number | 'auto';
  /**
   * When 'auto' threads start their workers: with the first call large enough to pay for them
   * ('lazy', the default), or in createEngine ('eager': a sync call cannot wait for them to start).
   */
  workers?: 'lazy' | 'eager';
  backend?: 'auto' | 'wasm' | 'webgpu';
  /**
   * A GPUDevice of the caller's (TF.js's, say) to run on: implies backend 'webgpu'. The engine never
   * destroys or replaces it; its sync calls then also take GPU buffers (docs/webgpu.md).
   */
  device?: GpuDeviceLike;
  /** Which wasm build to run: the relaxed-SIMD one is chosen by 'auto' wherever it validates. */
  wasmBuild?: 'auto' | 'simd' | 'relaxed-simd';
  /** Refuse calls whose wasm memory would exceed this many bytes (default and cap: 4 GiB). */
  maxMemoryBytes?: number;
  /**
   * Tuning of backend 'auto' (docs/backends.md): a call runs on WebGPU when the cost model
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
  /** Threads of an async call (threads 'auto': once its workers run). */
  threads: number;
  /** Threads of a sync call: 1 where the calling thread may not wait for workers (`notes` says why). */
  syncThreads: number;
  features: { simd: boolean; relaxedSimd: boolean; workers: boolean; crossOriginIsolated: boolean; webgpu: boolean };
  /** Why fewer threads than asked run, when that happens; how backend 'auto' decides. */
  notes: string[];
  /** The WebGPU adapter found for backend 'webgpu' or 'auto', or null (backend 'wasm', or none). */
  webgpu: WebGpuAdapterInfo | null;
}

// The losses are overloaded on what the call asks: `grad` is in the result unless `grad: false`,
// and crossEntropy's `loss` is a number unless `reduction: 'none'`.
export interface Engine {
  readonly info: EngineInfo;
  /** Pixel cross-entropy (torch.nn.CrossEntropyLoss semantics) and its gradient. */
  crossEntropy<R extends Reduction = 'mean'>(
    options: CrossEntropyOptions<R> & { grad?: true },
  ): Promise<WithGrad<CrossEntropyResult<R>>>;
  crossEntropy<R extends Reduction = 'mean'>(
    options: CrossEntropyOptions<R> & { grad: false },
  ): Promise<WithoutGrad<CrossEntropyResult<R>>>;
  crossEntropy<R extends Reduction = 'mean'>(options: CrossEntropyOptions<R>): Promise<CrossEntropyResult<R>>;
  /** CFL-Net patch contrastive loss, 'exact' or 'cflnet', and its gradient. */
  patchContrast(options: PatchContrastOptions & { grad?: true }): Promise<WithGrad<PatchContrastResult>>;
  patchContrast(options: PatchContrastOptions & { grad: false }): Promise<WithoutGrad<PatchContrastResult>>;
  patchContrast(options: PatchContrastOptions): Promise<PatchContrastResult>;
  /** FOCAL InfoNCE++ per image, averaged over the used images, and its gradient. */
  infoNCE(options: InfoNCEOptions & { grad?: true }): Promise<WithGrad<InfoNCEResult>>;
  infoNCE(options: InfoNCEOptions & { grad: false }): Promise<WithoutGrad<InfoNCEResult>>;
  infoNCE(options: InfoNCEOptions): Promise<InfoNCEResult>;
  /** CFL-Net training objective: weighted CE + alpha · patchContrast('cflnet'), and its gradients. */
  cflObjective(options: CflObjectiveOptions & { grad?: true }): Promise<WithGrad<CflObjectiveResult>>;
  cflObjective(options: CflObjectiveOptions & { grad: false }): Promise<WithoutGrad<CflObjectiveResult>>;
  cflObjective(options: CflObjectiveOptions): Promise<CflObjectiveResult>;
  /**
   * The same losses as synchronous calls (for tape-based trainers such as TF.js): the same options
   * but `signal` and `onProgress`, the same result to the bit, on wasm (docs/api.md). On an engine
   * made on a device, GPU-buffer inputs run on the GPU and give GPU-buffer results (docs/webgpu.md).
   */
  crossEntropySync<R extends Reduction = 'mean'>(
    options: CrossEntropyDeviceOptions<R> & { grad?: true },
  ): WithGrad<CrossEntropyDeviceResult>;
  crossEntropySync<R extends Reduction = 'mean'>(
    options: CrossEntropyDeviceOptions<R> & { grad: false },
  ): WithoutGrad<CrossEntropyDeviceResult>;
  crossEntropySync<R extends Reduction = 'mean'>(options: CrossEntropyDeviceOptions<R>): CrossEntropyDeviceResult;
  crossEntropySync<R extends Reduction = 'mean'>(
    options: SyncOptions<CrossEntropyOptions<R>> & { grad?: true },
  ): WithGrad<CrossEntropyResult<R>>;
  crossEntropySync<R extends Reduction = 'mean'>(
    options: SyncOptions<CrossEntropyOptions<R>> & { grad: false },
  ): WithoutGrad<CrossEntropyResult<R>>;
  crossEntropySync<R extends Reduction = 'mean'>(options: SyncOptions<CrossEntropyOptions<R>>): CrossEntropyResult<R>;
  patchContrastSync(options: PatchContrastDeviceOptions & { grad?: true }): WithGrad<PatchContrastDeviceResult>;
  patchContrastSync(options: PatchContrastDeviceOptions & { grad: false }): WithoutGrad<PatchContrastDeviceResult>;
  patchContrastSync(options: PatchContrastDeviceOptions): PatchContrastDeviceResult;
  patchContrastSync(options: SyncOptions<PatchContrastOptions> & { grad?: true }): WithGrad<PatchContrastResult>;
  patchContrastSync(options: SyncOptions<PatchContrastOptions> & { grad: false }): WithoutGrad<PatchContrastResult>;
  patchContrastSync(options: SyncOptions<PatchContrastOptions>): PatchContrastResult;
  infoNCESync(options: InfoNCEDeviceOptions & { grad?: true }): WithGrad<InfoNCEDeviceResult>;
  infoNCESync(options: InfoNCEDeviceOptions & { grad: false }): WithoutGrad<InfoNCEDeviceResult>;
  infoNCESync(options: InfoNCEDeviceOptions): InfoNCEDeviceResult;
  infoNCESync(options: SyncOptions<InfoNCEOptions> & { grad?: true }): WithGrad<InfoNCEResult>;
  infoNCESync(options: SyncOptions<InfoNCEOptions> & { grad: false }): WithoutGrad<InfoNCEResult>;
  infoNCESync(options: SyncOptions<InfoNCEOptions>): InfoNCEResult;
  cflObjectiveSync(options: CflObjectiveDeviceOptions & { grad?: true }): WithGrad<CflObjectiveDeviceResult>;
  cflObjectiveSync(options: CflObjectiveDeviceOptions & { grad: false }): WithoutGrad<CflObjectiveDeviceResult>;
  cflObjectiveSync(options: CflObjectiveDeviceOptions): CflObjectiveDeviceResult;
  cflObjectiveSync(options: SyncOptions<CflObjectiveOptions> & { grad?: true }): WithGrad<CflObjectiveResult>;
  cflObjectiveSync(options: SyncOptions<CflObjectiveOptions> & { grad: false }): WithoutGrad<CflObjectiveResult>;
  cflObjectiveSync(options: SyncOptions<CflObjectiveOptions>): CflObjectiveResult;
  /** Bytes of wasm memory the engine holds now. */
  memoryBytes(): number;
  /** Terminates the engine's workers and frees its GPU resources; later calls reject. */
  dispose(): Promise<void>;
  /** `await using engine = await createEngine()` disposes of it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface DrawInfoNCESampleOptions {
  mask: Mask;
  shape: Shape;
  maxPerClass: number;
  seed?: number;
  scope?: 'image' | 'batch';
}

/** What every entry of the package exports (the same API; they differ in how they load the wasm). */
export interface PackageApi {
  /** Creates an engine with its own wasm instance and, for threads > 1, its own workers. */
  createEngine(options?: EngineOptions): Promise<Engine>;
  /** Pixel cross-entropy (torch.nn.CrossEntropyLoss semantics) and its gradient, on the default engine. */
  crossEntropy: Engine['crossEntropy'];
  /** CFL-Net patch contrastive loss, 'exact' or 'cflnet', and its gradient, on the default engine. */
  patchContrast: Engine['patchContrast'];
  /** FOCAL InfoNCE++ per image, averaged over the used images, and its gradient, on the default engine. */
  infoNCE: Engine['infoNCE'];
  /** CFL-Net training objective: weighted CE + alpha · patchContrast('cflnet'), on the default engine. */
  cflObjective: Engine['cflObjective'];
  /** The pixels that infoNCE's seeded sampler draws (same on every runtime and thread count). */
  drawInfoNCESample(options: DrawInfoNCESampleOptions): { pristine: Int32Array[]; forged: Int32Array[] };
}

// Symbol.asyncDispose is declared by TypeScript's esnext.disposable lib and by @types/node; this
// declaration (the same as theirs) lets a project that has neither compile these types.
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}
