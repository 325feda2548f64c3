// The kernel module: every export is a raw-pointer function over linear memory (see each file's
// header for layouts). Built twice: SIMD128, and SIMD128 + relaxed-simd (asconfig.json).

export { alloc, mark, reset, resetTo } from './memory';
export { findNonFinite } from './validate';
export { addF32 } from './sums';
export { crossEntropyPrepareTargets } from './ce_targets';
export { crossEntropyIndex, crossEntropyProbs } from './cross_entropy';
export {
  patchContrastAttach,
  patchContrastBackward,
  patchContrastBackwardRows,
  patchContrastClassStrips,
  patchContrastColumnMax,
  patchContrastKernelBytes,
  patchContrastLayout,
  patchContrastNegativeGrad,
  patchContrastNegatives,
  patchContrastNormalize,
  patchContrastPool,
  patchContrastPoolChannels,
  patchContrastPositives,
  patchContrastPristineStrips,
  patchContrastRows,
  patchContrastStrips,
  patchContrastUnpoolChannels,
} from './patch_contrast';
export {
  infoNCEAttach,
  infoNCEBackward,
  infoNCEBackwardRows,
  infoNCEGather,
  infoNCEGatherChannels,
  infoNCEKernelBytes,
  infoNCEMeanLogit,
  infoNCENormalize,
  infoNCEQueryGrad,
  infoNCEQueryLse,
  infoNCEScatterChannels,
  infoNCEStripCount,
  infoNCEStrips,
} from './info_nce';
export {
  packOperand,
  similarityStrip,
  accumulateWeighted,
  accumulateWeightedTransposed,
  STRIP_ROWS,
} from './similarity';
