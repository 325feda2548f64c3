// The test build (build/kernels.testing.wasm, SIMD128): the product's exports (index.ts) and the
// ones only tests and benchmarks call — whole stages in one call, the strip counts of the passes,
// and the micro-kernels alone — so that the published module carries none of them.

export * from './index';
export {
  patchContrastBackward,
  patchContrastClassStrips,
  patchContrastPool,
  patchContrastPristineStrips,
  patchContrastRows,
  patchContrastStrips,
} from './patch_contrast';
export { infoNCEBackward, infoNCEGather, infoNCEStripCount } from './info_nce';
export { accumulateWeighted, accumulateWeightedTransposed, similarityStrip, stripStride } from './similarity';
