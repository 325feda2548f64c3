// The data of the generalization test. Training images carry the manipulations of examples/train
// (SEEN: noise, blur, JPEG-like blocking in the spliced region); held-out images come in two
// splits: the same manipulations, and UNSEEN ones that no training image had:
//   resample  the donor is noisy content enlarged 1.5–2.5× by bilinear interpolation, so its noise
//             is smooth and periodically correlated (the trace of an upscaled paste);
//   grating   the donor carries a fine diagonal grating (period 3 px, amplitude 0.03–0.06), like
//             a halftone or a moiré left by re-photographing.
// Host, mask and 8-bit rounding are made as in examples/train/data.mjs. Deterministic from a seed.
//
//   trainingBatches(seed, steps, batch, size) -> [{ images (B, 3, H, W), masks (B, H, W) }] one per step
//   heldOutSet(seed, kinds, n, size) -> { images, masks, kinds } with the kinds in turn

import { addNoise, blobMask, content, KINDS, makeBatch, makeForgery, rng, splice } from '../train/data.mjs';

export const SEEN = KINDS;
export const UNSEEN = ['resample', 'grating'];

const uniform = (rand, lo, hi) => lo + (hi - lo) * rand();

/** (3, size, size): noisy content of a smaller side, enlarged `factor`× by bilinear interpolation. */
function resampled(rand, size, factor, sigma) {
  const small = Math.ceil(size / factor) + 2;
  const src = addNoise(content(rand, small, small), sigma, rand),
    out = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const sy = y / factor,
        sx = x / factor;
      const y0 = Math.floor(sy),
        x0 = Math.floor(sx),
        fy = sy - y0,
        fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const at = (yy, xx) => src[(c * small + yy) * small + xx];
        out[(c * size + y) * size + x] =
          (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
          fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      }
    }
  return out;
}

/** (3, size, size): noisy content with a fine diagonal grating added to every channel. */
function grated(rand, size, sigma) {
  const img = addNoise(content(rand, size, size), sigma, rand),
    amp = uniform(rand, 0.03, 0.06),
    phase = rand() * 2 * Math.PI,
    flip = rand() < 0.5 ? 1 : -1;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const v = amp * Math.sin(((x + flip * y) * 2 * Math.PI) / 3 + phase);
      for (let c = 0; c < 3; c++) img[(c * size + y) * size + x] += v;
    }
  return img;
}

/** One forgery whose spliced region carries an unseen manipulation. */
export function makeUnseenForgery(rand, size, kind) {
  const hostSigma = uniform(rand, 0.012, 0.03);
  const host = addNoise(content(rand, size, size), hostSigma, rand);
  let donor;
  if (kind === 'resample') donor = resampled(rand, size, uniform(rand, 1.5, 2.5), hostSigma);
  else if (kind === 'grating') donor = grated(rand, size, hostSigma);
  else throw new RangeError(`unknown unseen manipulation ${kind}`);
  const mask = blobMask(rand, size, size, uniform(rand, 0.1, 0.3));
  return { image: splice(host, donor, mask), mask, kind };
}

/** The training batches of one seed, one per step (the same for every method trained on that seed). */
export function trainingBatches(seed, steps, batch, size) {
  const rand = rng(seed);
  return Array.from({ length: steps }, () => makeBatch(rand, batch, size));
}

/** `n` held-out forgeries, the manipulations of `kinds` in turn (so each is equally represented). */
export function heldOutSet(seed, kinds, n, size) {
  const rand = rng(seed),
    hw = size * size;
  const images = new Float32Array(n * 3 * hw),
    masks = new Float32Array(n * hw),
    made = [];
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % kinds.length];
    const f = SEEN.includes(kind) ? makeForgery(rand, size, kind) : makeUnseenForgery(rand, size, kind);
    images.set(f.image, i * 3 * hw);
    masks.set(f.mask, i * hw);
    made.push(kind);
  }
  return { images, masks, kinds: made, n };
}
