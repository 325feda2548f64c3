// A synthetic data set built to contain FOCAL's conflicts (its Fig. 2): four fixed textures, i.e.
// processing traces laid over random content, and every image is a host of one texture with a
// spliced region of another. Host and donor textures are drawn uniformly among the 12 ordered
// pairs, so each texture is forged in some images and the pristine host in others; a batch of 8
// almost always holds some texture on both sides. Deterministic from a seed.
//
//   conflictImage(rand, size) -> { image (3, H, W) in [0, 1], mask (H, W) 0/1, host, donor }
//   conflictBatch(seed, b, size) -> { images (B, 3, H, W), masks (B, H, W), hosts, donors, conflicts }

import { addNoise, blobMask, blur, content, jpegLike, rng } from '../train/data.mjs';

/** The textures: the same parameters wherever they appear (only content, grid offset and phase vary). */
export const TEXTURES = {
  noise: (rand, h, w) => addNoise(content(rand, h, w), 0.06, rand),
  blur: (rand, h, w) => blur(addNoise(content(rand, h, w), 0.015, rand), h, w, 1.5),
  jpeg: (rand, h, w) => {
    // 8×8 block DCT quantization on a grid offset from the image's origin by 0..7 pixels.
    const big = h + 8,
      oy = Math.floor(rand() * 8),
      ox = Math.floor(rand() * 8);
    const compressed = jpegLike(addNoise(content(rand, big, big), 0.015, rand), big, big, 2);
    const out = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[(c * h + y) * w + x] = compressed[(c * big + y + oy) * big + x + ox];
    return out;
  },
  grating: (rand, h, w) => {
    // A fine diagonal grating (period 3 px, amplitude 0.05) over mildly noisy content.
    const img = addNoise(content(rand, h, w), 0.015, rand),
      phase = rand() * 2 * Math.PI;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = 0.05 * Math.sin(((x + y) * 2 * Math.PI) / 3 + phase);
        for (let c = 0; c < 3; c++) img[(c * h + y) * w + x] += v;
      }
    return img;
  },
};
export const NAMES = Object.keys(TEXTURES);

/** One image: host texture, a spliced blob (10–30 % of the image) of a different texture. */
export function conflictImage(rand, size) {
  const host = Math.floor(rand() * NAMES.length);
  const donor = (host + 1 + Math.floor(rand() * (NAMES.length - 1))) % NAMES.length;
  const a = TEXTURES[NAMES[host]](rand, size, size),
    b = TEXTURES[NAMES[donor]](rand, size, size);
  const mask = blobMask(rand, size, size, 0.1 + 0.2 * rand());
  const hw = size * size,
    image = new Float32Array(3 * hw);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < hw; i++) {
      const v = mask[i] ? b[c * hw + i] : a[c * hw + i];
      image[c * hw + i] = Math.round(Math.min(1, Math.max(0, v)) * 255) / 255; // 8-bit pixels
    }
  return { image, mask, host: NAMES[host], donor: NAMES[donor] };
}

/**
 * B images from `seed`. `conflicts`: how many textures are forged in one image of the batch and
 * the pristine host of another.
 */
export function conflictBatch(seed, b, size) {
  const rand = rng(seed);
  const hw = size * size,
    images = new Float32Array(b * 3 * hw),
    masks = new Float32Array(b * hw),
    hosts = [],
    donors = [];
  for (let i = 0; i < b; i++) {
    const f = conflictImage(rand, size);
    images.set(f.image, i * 3 * hw);
    masks.set(f.mask, i * hw);
    hosts.push(f.host);
    donors.push(f.donor);
  }
  const conflicts = NAMES.filter((t) => hosts.includes(t) && donors.includes(t)).length;
  return { images, masks, hosts, donors, conflicts };
}
