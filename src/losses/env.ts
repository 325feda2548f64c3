// What a loss wrapper needs from the engine when a call is made (before any context is picked):
// the finite check, the engine's copies, and whether a call's copies go to shared memory.

import type { CopyCache } from '../runtime/copies.js';
import type { FiniteCheck } from '../validate.js';

export interface PrepareEnv {
  /** Checks float inputs that the kernels do not check as they go (all but crossEntropy's logits). */
  finite: FiniteCheck;
  copies: CopyCache;
  /** Whether a call of `images` images takes its images' copies in shared memory. */
  share(images: number): boolean;
}
