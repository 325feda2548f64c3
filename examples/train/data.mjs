// Synthetic forgeries, generated on the fly: a host image and a spliced region from a second image
// whose noise, blur or JPEG-like blocking statistics differ from the host's. Host and donor
// content come from the same generator (smooth colour fields, flat shapes, faint gratings), so
// content is no reliable cue to the forged region; the traces of processing are.
//
//   makeForgery(rand, size) -> { image: Float32Array (3, H, W) in [0, 1], mask: Float32Array (H, W) 0/1, kind }
//   makeBatch(rand, b, size) -> { images: Float32Array (B, 3, H, W), masks: Float32Array (B, H, W), kinds }

import { mulberry32 } from '../../support/mulberry32.mjs';

export const KINDS = ['noise', 'blur', 'jpeg'];

/** mulberry32: seeded floats in [0, 1) (the benchmark cases' generator). */
export const rng = mulberry32;

const uniform = (rand, lo, hi) => lo + (hi - lo) * rand();

function gauss(rand) {
  const u = Math.max(rand(), 1e-12),
    v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Image content (3, h, w): a smooth colour field, a few flat shapes with sharp edges, a faint grating. */
export function content(rand, h, w) {
  const img = new Float32Array(3 * h * w);
  const g = 4; // bilinear colour field from a (g+1)² grid per channel
  for (let c = 0; c < 3; c++) {
    const grid = Array.from({ length: (g + 1) * (g + 1) }, () => uniform(rand, 0.15, 0.85));
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const gy = (y / (h - 1)) * g,
          gx = (x / (w - 1)) * g;
        const y0 = Math.min(g - 1, Math.floor(gy)),
          x0 = Math.min(g - 1, Math.floor(gx)),
          fy = gy - y0,
          fx = gx - x0;
        const at = (yy, xx) => grid[yy * (g + 1) + xx];
        img[(c * h + y) * w + x] =
          (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
          fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      }
    }
  }
  const shapes = 3 + Math.floor(rand() * 5);
  for (let s = 0; s < shapes; s++) {
    const color = [rand(), rand(), rand()],
      cy = rand() * h,
      cx = rand() * w;
    const ry = uniform(rand, 0.06, 0.25) * h,
      rx = uniform(rand, 0.06, 0.25) * w,
      box = rand() < 0.5;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const dy = (y - cy) / ry,
          dx = (x - cx) / rx;
        if (box ? Math.abs(dy) < 1 && Math.abs(dx) < 1 : dy * dy + dx * dx < 1)
          for (let c = 0; c < 3; c++) img[(c * h + y) * w + x] = color[c];
      }
    }
  }
  const period = uniform(rand, 6, 16),
    angle = rand() * Math.PI,
    amp = uniform(rand, 0.01, 0.04),
    phase = rand() * 6.3;
  const ky = (Math.sin(angle) * 2 * Math.PI) / period,
    kx = (Math.cos(angle) * 2 * Math.PI) / period;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = amp * Math.sin(ky * y + kx * x + phase);
      for (let c = 0; c < 3; c++) img[(c * h + y) * w + x] += v;
    }
  }
  return img;
}

export function addNoise(img, sigma, rand) {
  for (let i = 0; i < img.length; i++) img[i] += sigma * gauss(rand);
  return img;
}

/** Separable Gaussian blur of each channel, edges clamped. */
export function blur(img, h, w, sigma) {
  const r = Math.ceil(3 * sigma),
    k = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp(-(i * i) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const tmp = new Float32Array(img.length),
    out = new Float32Array(img.length);
  const clamp = (v, n) => (v < 0 ? 0 : v >= n ? n - 1 : v);
  for (let c = 0; c < 3; c++) {
    const o = c * h * w;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) s += k[i + r] * img[o + y * w + clamp(x + i, w)];
        tmp[o + y * w + x] = s / sum;
      }
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) s += k[i + r] * tmp[o + clamp(y + i, h) * w + x];
        out[o + y * w + x] = s / sum;
      }
  }
  return out;
}

// The JPEG luminance quantization table (quality 50), for pixel values in 0..255.
const JPEG_Q = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
  87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
  72, 92, 95, 98, 112, 100, 103, 99,
];
const DCT = Array.from({ length: 64 }, (_, i) => {
  const u = Math.floor(i / 8),
    x = i % 8;
  return (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
}); // DCT[u·8 + x], orthonormal 8-point DCT-II

/** JPEG-like compression: 8×8 block DCT of each channel, coefficients quantized with JPEG_Q · scale. h, w multiples of 8. */
export function jpegLike(img, h, w, scale) {
  const out = new Float32Array(img.length),
    block = new Float64Array(64),
    tmp = new Float64Array(64);
  for (let c = 0; c < 3; c++) {
    for (let by = 0; by < h; by += 8)
      for (let bx = 0; bx < w; bx += 8) {
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++) block[y * 8 + x] = img[(c * h + by + y) * w + bx + x] * 255 - 128;
        // forward: rows then columns
        for (let y = 0; y < 8; y++)
          for (let u = 0; u < 8; u++) {
            let s = 0;
            for (let x = 0; x < 8; x++) s += DCT[u * 8 + x] * block[y * 8 + x];
            tmp[y * 8 + u] = s;
          }
        for (let v = 0; v < 8; v++)
          for (let u = 0; u < 8; u++) {
            let s = 0;
            for (let y = 0; y < 8; y++) s += DCT[v * 8 + y] * tmp[y * 8 + u];
            const q = Math.max(1, JPEG_Q[v * 8 + u] * scale);
            block[v * 8 + u] = Math.round(s / q) * q;
          }
        // inverse
        for (let v = 0; v < 8; v++)
          for (let x = 0; x < 8; x++) {
            let s = 0;
            for (let u = 0; u < 8; u++) s += DCT[u * 8 + x] * block[v * 8 + u];
            tmp[v * 8 + x] = s;
          }
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++) {
            let s = 0;
            for (let v = 0; v < 8; v++) s += DCT[v * 8 + y] * tmp[v * 8 + x];
            out[(c * h + by + y) * w + bx + x] = (s + 128) / 255;
          }
      }
  }
  return out;
}

/** A star-shaped blob (h, w) covering `area` of the image, 1 inside. */
export function blobMask(rand, h, w, area) {
  const m = new Float32Array(h * w);
  const harmonics = [1, 2, 3].map((k) => ({ k, a: uniform(rand, 0, 0.25 / k), p: rand() * 6.3 }));
  const radius = (t) => 1 + harmonics.reduce((s, { k, a, p }) => s + a * Math.cos(k * t + p), 0);
  const aspect = uniform(rand, 0.6, 1.6);
  const r0 = Math.sqrt((area * h * w) / Math.PI);
  const ry = r0 * Math.sqrt(aspect),
    rx = r0 / Math.sqrt(aspect);
  const cy = uniform(rand, ry * 1.2, h - ry * 1.2),
    cx = uniform(rand, rx * 1.2, w - rx * 1.2);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const dy = (y + 0.5 - cy) / ry,
        dx = (x + 0.5 - cx) / rx;
      if (Math.hypot(dy, dx) < radius(Math.atan2(dy, dx))) m[y * w + x] = 1;
    }
  return m;
}

/** One synthetic forgery of `size` × `size` pixels (size a multiple of 8). */
export function makeForgery(rand, size, kind = KINDS[Math.floor(rand() * KINDS.length)]) {
  const h = size,
    w = size;
  const hostSigma = uniform(rand, 0.012, 0.03);
  const host = addNoise(content(rand, h, w), hostSigma, rand);
  let donor;
  if (kind === 'noise') {
    // The donor's noise is several times stronger or weaker than the host's.
    const louder = rand() < 0.5;
    donor = addNoise(content(rand, h, w), louder ? uniform(rand, 0.05, 0.08) : uniform(rand, 0, 0.004), rand);
  } else if (kind === 'blur') {
    donor = blur(addNoise(content(rand, h, w), hostSigma, rand), h, w, uniform(rand, 1, 1.8));
  } else {
    // Compressed on its own 8×8 grid, then pasted at an offset: its blocks do not line up with the host's pixels' origin.
    const big = size + 8,
      oy = Math.floor(rand() * 8),
      ox = Math.floor(rand() * 8);
    const compressed = jpegLike(addNoise(content(rand, big, big), hostSigma, rand), big, big, uniform(rand, 1, 2.5));
    donor = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) donor[(c * h + y) * w + x] = compressed[(c * big + y + oy) * big + x + ox];
  }
  const mask = blobMask(rand, h, w, uniform(rand, 0.1, 0.3));
  return { image: splice(host, donor, mask), mask, kind };
}

/** The donor's pixels inside the mask, the host's outside, as 8-bit values in [0, 1]: (3, H, W). */
export function splice(host, donor, mask) {
  const hw = mask.length,
    image = new Float32Array(3 * hw);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < hw; i++) {
      const v = mask[i] ? donor[c * hw + i] : host[c * hw + i];
      image[c * hw + i] = Math.round(Math.min(1, Math.max(0, v)) * 255) / 255; // 8-bit pixels
    }
  }
  return image;
}

/** B forgeries as NCHW images and (B, H, W) masks. */
export function makeBatch(rand, b, size) {
  const images = new Float32Array(b * 3 * size * size),
    masks = new Float32Array(b * size * size),
    kinds = [];
  for (let i = 0; i < b; i++) {
    const f = makeForgery(rand, size);
    images.set(f.image, i * 3 * size * size);
    masks.set(f.mask, i * size * size);
    kinds.push(f.kind);
  }
  return { images, masks, kinds };
}
