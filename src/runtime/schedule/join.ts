// The batch gradient from the images' gradients, in image order.

import { type CopyCache, isShared } from '../copies.js';

/**
 * Into `into` when given, else a fresh array — or, for one image, that image's own array, which is
 * already the call's (no copy of a large gradient), unless it is shared memory (bands.ts), which a
 * result never holds. An image without a gradient contributes zeros.
 */
export function joinImages(
  images: { grad?: Float32Array }[],
  chw: number,
  copies: CopyCache,
  into?: Float32Array,
): Float32Array {
  const own = images[0].grad;
  if (!into && images.length === 1 && own?.length === chw && !isShared(own)) return own;
  const out = into ?? new Float32Array(images.length * chw);
  images.forEach((image, img) => {
    if (image.grad) out.set(image.grad, img * chw);
    else out.fill(0, img * chw, (img + 1) * chw);
  });
  // Copied out: each image's array (its features copy) serves the next call.
  copies.recycle(...images.map((image) => image.grad));
  return out;
}
