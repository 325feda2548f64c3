// The kernel module: every export is a raw-pointer function over linear memory (see each file's
// header for layouts). Built twice: SIMD128, and SIMD128 + relaxed-simd (asconfig.json).

export { alloc, reset } from './memory';
export { findNonFinite } from './validate';
export { expArray, logArray, hsumTest, hmaxTest } from './simd_math';
export { crossEntropyPrepareTargets } from './ce_targets';
export { crossEntropyIndex, crossEntropyProbs } from './cross_entropy';
export { patchContrastImage } from './patch_contrast';
export { infoNCEImage } from './info_nce';
export { packPanels, similarityStrip, accumulateWeighted, accumulateWeightedTransposed } from './similarity';
