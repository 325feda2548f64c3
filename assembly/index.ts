// The kernel module: every export is a raw-pointer function over linear memory (see each file's
// header for layouts), and each is called by the runtime (src/runtime/wasm/). Built twice:
// SIMD128, and SIMD128 + relaxed-simd (asconfig.json). The exports that only tests and
// benchmarks call are in the test build (testing.ts).

export { alloc, mark, reset, resetTo } from './memory';
export { findNonFinite } from './validate';
export { addF32 } from './sums';
export { crossEntropyPrepareTargets } from './ce_targets';
export { crossEntropyIndex, crossEntropyProbs } from './cross_entropy';
export {
  patchContrastAttach,
  patchContrastBackwardRows,
  patchContrastColumnMax,
  patchContrastKernelBytes,
  patchContrastNegativeGrad,
  patchContrastNegatives,
  patchContrastNormalize,
  patchContrastPoolChannels,
  patchContrastPositives,
  patchContrastUnpoolChannels,
} from './patch_contrast';
export {
  infoNCEAttach,
  infoNCEBackwardRows,
  infoNCEGatherChannels,
  infoNCEKernelBytes,
  infoNCEMeanLogit,
  infoNCENormalize,
  infoNCEQueryGrad,
  infoNCEQueryLse,
  infoNCEScatterChannels,
  infoNCEStrips,
} from './info_nce';
export { packOperand } from './similarity';
