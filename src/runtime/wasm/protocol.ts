// The task protocol: what one wasm instance runs for a call (the calling thread's, or a worker's,
// which gets it by message), and what it answers. The calling thread needs these types and
// nothing else of the running side (run-task.ts). `ResultOf<T>` ties each task to its result, so
// no caller casts one. A task's inputs come with it and its outputs are fresh arrays, so any
// instance can run any task to the same bits (docs/design.md §9); the one exception is that the
// parts of a pass find their operands pinned on an instance that ran a part of the same image.

export interface TaskBase {
  /** Wasm memory reserved before the task starts (the job's estimate, an upper bound). */
  memoryBytes: number;
}

/** A stage of a similarity pass over strips [s0, s1), and its work (the unit of progress). */
export interface Step {
  stage: Stage;
  s0: number;
  s1: number;
  work: number;
}

export type Stage = 'columnMax' | 'negatives' | 'positives' | 'negativeGrad' | 'queryLse' | 'strips' | 'queryGrad';

/**
 * patchContrast stage 1: Z (pooled into the rows `rowOf` gives each patch, and normalized) and its
 * norms, for the whole image or for the patches of one band of its pixel rows (schedule/bands.ts).
 */
export interface PatchPoolTask extends TaskBase {
  kind: 'patchPool';
  /** The image's C × H × W features (shared memory, for a band). */
  features: Float32Array;
  /** Each pooled patch's row of Z, and the rows of Z. */
  rowOf: Int32Array;
  rows: number;
  c: number;
  h: number;
  w: number;
  p: number;
  /** Pixel rows [y0, y1) of a band; the whole image when absent. */
  band?: [number, number];
  /**
   * A band's destination: the image's Z in shared memory, which it writes its rows into (at the
   * rows `zRows` gives them) and returns, instead of a Z of its own.
   */
  zInto?: Float32Array;
  zRows?: Int32Array;
}

export interface PatchPoolResult {
  /** The task's features array, handed back: the backward pass writes the gradient into it. */
  spare: Float32Array;
  z: Float32Array;
  norms: Float64Array;
}

/** One part of a similarity pass of patchContrast, over Z and what earlier passes found. */
export interface PatchPartTask extends TaskBase {
  kind: 'patchPart';
  stage: 'columnMax' | 'negatives' | 'positives' | 'negativeGrad';
  steps: Step[];
  /** The image run the part belongs to (schedule/plan.ts newImageRun), which names its pinned operands. */
  image: number;
  /** Absent when the instance has the image's operands pinned. */
  z?: Float32Array;
  n: number;
  c: number;
  pristine: number;
  variant: number;
  temperature: number;
  gradScale: number;
  grad: boolean;
  /** The column maxima (cflnet, after their pass). */
  cmax?: Float32Array;
  /** Every row's statA and invP (after the negatives), b (before the negative gradient). */
  statA?: Float32Array;
  statB?: Float32Array;
  invP?: Float32Array;
  /** A band's image: the slot that takes the part's dZ rows (DzSlot), which it then does not return. */
  dzInto?: Float32Array;
}

/**
 * A part's dZ in shared memory, for a banded image (schedule/bands.ts): the rows of its spans
 * [from, to) (layout.ts dzSpans), packed span after span.
 */
export interface DzSlot {
  rows: Float32Array;
  spans: [number, number][];
}

/**
 * columnMax: the part's column maxima (N_p); negatives: statA of its pristine rows, from row
 * `row0`, and its partials for the F forged rows (exact: running maxima and sums; cflnet: sums);
 * positives: its sums for every row (float64, N_p) and, with a gradient, its partial dZ from row
 * `row0` to the end of its last strip's class block; negativeGrad: its partial dZ of its own rows,
 * from `row0`, and of the forged rows. A part with a `dzInto` slot returns no dZ.
 */
export interface PatchPartResult {
  row0: number;
  cmax?: Float32Array;
  statA?: Float32Array;
  colMax?: Float32Array;
  colSum?: Float32Array;
  lossSum?: Float64Array;
  bSum?: Float64Array;
  dz?: Float32Array;
  /** negativeGrad: its partial dZ of the forged rows (from patchLayout's forgedStart). */
  forgedDz?: Float32Array;
}

/** The gradient of the image, or of a band's pixel rows (Z, dZ, the norms and the row map then its patches'). */
export interface PatchBackwardTask extends TaskBase {
  kind: 'patchBackward';
  /** Rows of Z. */
  rows: number;
  /** C × H × W floats that receive the gradient (memory already touched: no fresh pages to fault in). */
  out: Float32Array;
  z: Float32Array;
  /** The whole image's dZ; a band has dzSlots instead. */
  dz?: Float32Array;
  norms: Float64Array;
  /** The whole image's row map (a band makes its own from `at`). */
  rowOf?: Int32Array;
  /**
   * A band: the row of each of its patches in the image's z (shared) and norms, and the parts'
   * slots in part order, from which it sums its rows of dZ (wasm/band-rows.ts).
   */
  at?: Int32Array;
  dzSlots?: DzSlot[];
  c: number;
  h: number;
  w: number;
  p: number;
  band?: [number, number];
}

/** infoNCE stage 1: U, X, their norms and, for mean-logit, the positive terms. */
export interface NceGatherTask extends TaskBase {
  kind: 'nceGather';
  features: Float32Array;
  queries: Int32Array;
  negatives: Int32Array;
  c: number;
  hw: number;
  temperature: number;
  positive: number;
  /** Arrays kept from earlier calls (shared with workers) that take U and X, returned as the result's. */
  uInto?: Float32Array;
  xInto?: Float32Array;
}

export interface NceGatherResult {
  /** The task's features array, handed back: the backward pass writes the gradient into it. */
  spare: Float32Array;
  u: Float32Array;
  x: Float32Array;
  normsU: Float64Array;
  normsX: Float64Array;
  /** mean-logit: S = Σ u_b and ℓ0 per query. */
  sumU?: Float32Array;
  l0?: Float32Array;
}

export interface NcePartTask extends TaskBase {
  kind: 'ncePart';
  stage: 'queryLse' | 'strips' | 'queryGrad';
  steps: Step[];
  /** As PatchPartTask's: one sequence of names for both losses. */
  image: number;
  /** Absent when the instance has the image's operands pinned. */
  u?: Float32Array;
  x?: Float32Array;
  j: number;
  m: number;
  c: number;
  temperature: number;
  positive: number;
  /** Every query's ℓ0 (J_p; the negatives). */
  l0?: Float32Array;
  /** mean-exp: every query's LSE over the others and its dl0 (J_p each; the query gradient). */
  lse?: Float32Array;
  dl0?: Float32Array;
  gradScale: number;
  grad: boolean;
  /** With workers and shared memory: the part's slot (NceSlot), which takes its dU rows and dX, not its result. */
  into?: Float32Array;
}

/**
 * A part's partial gradients in shared memory (schedule/nce-image.ts): its dU rows [row0, row0 +
 * rows) (layout.ts nceDuRows), then, for a part of the negatives, all M_p rows of dX.
 */
export interface NceSlot {
  values: Float32Array;
  row0: number;
  rows: number;
}

/**
 * queryLse: the part's running maxima and sums for every query (J_p float32 each); strips: its
 * query rows' losses and dl0 from `row0`, its partial dU (its own rows, from `row0`) and dX (every
 * row); queryGrad: its partial dU from row `row0` on.
 */
export interface NcePartResult {
  row0: number;
  lseMax?: Float32Array;
  lseSum?: Float32Array;
  perQuery?: Float32Array;
  dl0?: Float32Array;
  /** Absent for a part with a slot (`into`). */
  du?: Float32Array;
  dx?: Float32Array;
}

export interface NceBackwardTask extends TaskBase {
  kind: 'nceBackward';
  /** C × H·W floats that receive the gradient. */
  out: Float32Array;
  u: Float32Array;
  x: Float32Array;
  /** dU and dX merged by the calling thread; or, with slots, none: the task sums them. */
  du?: Float32Array;
  dx?: Float32Array;
  /** The parts' slots, the negatives' then the query gradient's, each pass in part order. */
  slots?: NceSlot[];
  normsU: Float64Array;
  normsX: Float64Array;
  queries: Int32Array;
  negatives: Int32Array;
  sumU?: Float32Array;
  dl0: Float32Array;
  c: number;
  hw: number;
  temperature: number;
  positive: number;
}

/** The gradient with respect to one image's features (C × H·W): the task's `out`. */
export interface BackwardResult {
  grad: Float32Array;
}

/** Index targets: checked, and the 'mean' normalizer Σ w_y over the valid ones (the WebGPU path's scan). */
export interface CeTargetsTask extends TaskBase {
  kind: 'ceTargets';
  target: Int32Array | Uint8Array | Uint16Array;
  c: number;
  ignoreIndex: number;
  weight: Float64Array;
}

export interface CeTargetsResult {
  normalizer: number;
}

/** A whole cross-entropy call on the calling thread's instance (docs/spec.md §3). */
export interface CrossEntropyTask extends TaskBase {
  kind: 'crossEntropy';
  b: number;
  c: number;
  hw: number;
  logits: Float32Array;
  target?: Int32Array | Uint8Array | Uint16Array;
  targetProbs?: Float32Array;
  weight: Float64Array;
  ignoreIndex: number;
  reduction: 'mean' | 'sum' | 'none';
  smoothing: number;
  grad: boolean;
  /** The caller's array for the gradient (else a fresh one). */
  gradInto?: Float32Array;
}

/** The raw sums of a cross-entropy call; the loss wrapper reduces them. */
export interface CrossEntropySums {
  /** Σ of the per-element losses (float64 reduction of float32 values). */
  sum: number;
  /** The per-element losses (reduction 'none'). */
  per?: Float32Array;
  /** The gradient w.r.t. the logits, already scaled (unless grad: false). */
  grad?: Float32Array;
}

export interface CrossEntropyTaskResult extends CrossEntropySums {
  /** The 'mean' normalizer: Σ w_y over the valid targets, or B·H·W for probabilities. */
  normalizer: number;
}

interface Results {
  patchPool: PatchPoolResult;
  patchPart: PatchPartResult;
  patchBackward: BackwardResult;
  nceGather: NceGatherResult;
  ncePart: NcePartResult;
  nceBackward: BackwardResult;
  ceTargets: CeTargetsResult;
  crossEntropy: CrossEntropyTaskResult;
}

export type Task =
  | PatchPoolTask
  | PatchPartTask
  | PatchBackwardTask
  | NceGatherTask
  | NcePartTask
  | NceBackwardTask
  | CeTargetsTask
  | CrossEntropyTask;
export type PartTask = PatchPartTask | NcePartTask;
export type TaskResult = Results[keyof Results];
export type ResultOf<T extends Task> = Results[T['kind']];

/** Whether a task is a part of a similarity pass (its operands may be pinned). */
export function isPart(task: Task): task is PartTask {
  return task.kind === 'patchPart' || task.kind === 'ncePart';
}

/** A part's task without the operands an instance already holds. */
export function withoutOperands<T extends PartTask>(task: T): T {
  return task.kind === 'patchPart' ? { ...task, z: undefined } : { ...task, u: undefined, x: undefined };
}

/** The buffers of a task result, handed over instead of copied (worker replies). */
export function resultTransfer(result: TaskResult): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of Object.values(result))
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
  return [...out];
}
