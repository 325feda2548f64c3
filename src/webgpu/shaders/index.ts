// The WGSL compute kernels of the WebGPU backend, by family (mirroring assembly/). All arithmetic
// is float32; the algorithms follow the wasm kernels. Each kernel is one table (kernel.ts): its
// named parameters, its named bindings and its body; device.ts builds the bind group layouts from
// it and the executor dispatches with parameters and buffers by name.

import { CE_INDEX, CE_PROBS } from './crossEntropy.js';
import { COLSUM, INFO_NCE_KERNELS, MEAN_LOGIT, MEAN_LOGIT_BACK } from './infoNCE.js';
import { NORMALIZE, NORMALIZE_BACK } from './normalize.js';
import { PATCH_CONTRAST_KERNELS } from './patchContrast.js';
import { GATHER, POOL, POOL_BACK } from './pooling.js';
import { FLAG_NON_FINITE, NAN_IF_BAD, SCATTER_ROWS, SUM_SCALED } from './resident.js';
import { GEMM } from './similarity.js';

export type { BindingsOf, KernelDef, ParamsOf } from './kernel.js';
export { PARAM_BYTES, orderBindings, packParams } from './kernel.js';

export const KERNELS = {
  pool: POOL,
  poolBack: POOL_BACK,
  gather: GATHER,
  normalize: NORMALIZE,
  normalizeBack: NORMALIZE_BACK,
  gemm: GEMM,
  colsum: COLSUM,
  meanLogit: MEAN_LOGIT,
  meanLogitBack: MEAN_LOGIT_BACK,
  ceIndex: CE_INDEX,
  ceProbs: CE_PROBS,
  sumScaled: SUM_SCALED,
  nanIfBad: NAN_IF_BAD,
  flagNonFinite: FLAG_NON_FINITE,
  scatterRows: SCATTER_ROWS,
  ...PATCH_CONTRAST_KERNELS,
  ...INFO_NCE_KERNELS,
};

export type Kernels = typeof KERNELS;
export type KernelName = keyof Kernels & string;
