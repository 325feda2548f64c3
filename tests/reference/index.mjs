// Float64 reference implementations of the four losses, written from the golden README (the
// spec): the test oracle for the package. Never shipped.
export { crossEntropyRef } from './crossEntropy.mjs';
export { patchContrastRef } from './patchContrast.mjs';
export { infoNCERef } from './infoNCE.mjs';
export { cflObjectiveRef } from './cflObjective.mjs';
