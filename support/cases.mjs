// Deterministic inputs for the benchmark cases of docs/benchmarks.md.
//
// Every implementation that is compared (this package, TF.js-wasm, PyTorch)
// must see exactly the same numbers, so the inputs are generated here once,
// from fixed seeds, and handed to Python through writeCaseBinaries().
//
//   makeCase('ce' | 'pc' | 'pc1' | 'nce' | 'nce-full', { small?: boolean })
//   writeCaseBinaries(caseObj, dir) -> meta (also written to dir/meta.json)
//
// The package (its seeded sampler) comes from $FL_BENCH_DIST when set (bench/compare.mjs's
// snapshot of dist/, so that a rebuild during a run changes nothing), else from dist/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from './mulberry32.mjs';

const dist = process.env.FL_BENCH_DIST;
const { drawInfoNCESample } = await import(dist ? pathToFileURL(join(dist, 'index.js')).href : '../dist/index.js');

// ---------------------------------------------------------------------------
// Random numbers

/** Standard normal samples by Box-Muller; both values of each pair are used. */
function gaussian(rand) {
  let spare = null;
  return function next() {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    // 1 - rand() lies in (0, 1], so the log is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - rand()));
    const angle = 2 * Math.PI * rand();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

// ---------------------------------------------------------------------------
// Masks

/**
 * One image's forged region: a rotated ellipse whose border wobbles a little,
 * so it looks like a blob rather than a perfect shape. Its area is drawn to
 * cover 26-38 % of the image; the lower bound keeps >= 1,000 forged pixels in
 * a 64x64 image, so the `nce` case really samples 1,000 pixels per class.
 * Writes 0/1 into `out` (length H*W).
 */
function blobMask(rand, H, W, out) {
  const fraction = 0.26 + 0.12 * rand();
  const aspect = 0.7 + 0.7 * rand();
  const radiusY = Math.sqrt((fraction * H * W) / (Math.PI * aspect));
  const radiusX = radiusY * aspect;
  const angle = Math.PI * rand();
  const wobble = 0.12 * rand();
  const lobes = 2 + Math.floor(3 * rand());
  const phase = 2 * Math.PI * rand();

  // Keep the whole blob inside the image, so that clipping does not shrink it.
  const reach = Math.max(radiusX, radiusY) * (1 + wobble);
  const marginX = Math.min(reach, W / 2);
  const marginY = Math.min(reach, H / 2);
  const cx = marginX + rand() * (W - 2 * marginX);
  const cy = marginY + rand() * (H - 2 * marginY);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);

  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      const dx = w + 0.5 - cx;
      const dy = h + 0.5 - cy;
      const u = (dx * cos + dy * sin) / radiusX;
      const v = (-dx * sin + dy * cos) / radiusY;
      const limit = 1 + wobble * Math.sin(lobes * Math.atan2(v, u) + phase);
      out[h * W + w] = u * u + v * v <= limit * limit ? 1 : 0;
    }
  }
}

function makeMask(rand, B, H, W) {
  const mask = new Float32Array(B * H * W);
  for (let b = 0; b < B; b++) blobMask(rand, H, W, mask.subarray(b * H * W, (b + 1) * H * W));
  return mask;
}

// ---------------------------------------------------------------------------
// Features

/**
 * Bilinear interpolation table from a coarse grid of G cells to n pixels:
 * pixel i reads cells lo[i] and lo[i]+1 with weight frac[i] on the second.
 */
function upsampleTable(n, G) {
  const lo = new Int32Array(n);
  const frac = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const pos = ((i + 0.5) / n) * (G - 1);
    lo[i] = Math.min(Math.floor(pos), G - 2);
    frac[i] = pos - lo[i];
  }
  return { lo, frac };
}

/**
 * Feature map (B,C,H,W): a smooth per-channel field (a coarse Gaussian grid,
 * bilinearly upsampled), plus pixel noise, plus a per-channel offset inside
 * the forged region, so that the two classes are moderately separated as in
 * a partly trained network. The exact recipe does not matter; it only has to
 * be deterministic and not degenerate.
 */
function makeFeatures(rand, B, C, H, W, mask) {
  const normal = gaussian(rand);
  const G = 8;
  const rows = upsampleTable(H, G);
  const cols = upsampleTable(W, G);
  const grid = new Float32Array(G * G);
  const out = new Float32Array(B * C * H * W);
  const offset = new Float32Array(C);
  for (let c = 0; c < C; c++) offset[c] = 0.6 * normal();

  for (let b = 0; b < B; b++) {
    const m = mask.subarray(b * H * W, (b + 1) * H * W);
    for (let c = 0; c < C; c++) {
      for (let g = 0; g < G * G; g++) grid[g] = normal();
      const plane = out.subarray((b * C + c) * H * W, (b * C + c + 1) * H * W);
      for (let h = 0; h < H; h++) {
        const r0 = rows.lo[h] * G;
        const fy = rows.frac[h];
        for (let w = 0; w < W; w++) {
          const c0 = cols.lo[w];
          const fx = cols.frac[w];
          const top = grid[r0 + c0] * (1 - fx) + grid[r0 + c0 + 1] * fx;
          const bottom = grid[r0 + G + c0] * (1 - fx) + grid[r0 + G + c0 + 1] * fx;
          const k = h * W + w;
          plane[k] = top * (1 - fy) + bottom * fy + 0.5 * normal() + offset[c] * m[k];
        }
      }
    }
  }
  return out;
}

/** CE logits (B,2,H,W): noise, with the target class pushed up so that the loss is realistic. */
function makeLogits(rand, B, C, H, W, target) {
  const normal = gaussian(rand);
  const HW = H * W;
  const out = new Float32Array(B * C * HW);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < HW; k++) {
        out[(b * C + c) * HW + k] = normal() + (target[b * HW + k] === c ? 0.8 : 0);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Cases

// Full size is docs/benchmarks.md; `small` keeps each case's structure at a
// size that runs in well under a second everywhere (used by the checks).
const SIZES = {
  ce: { full: [4, 2, 224, 224], small: [2, 2, 32, 32] },
  pc: { full: [4, 256, 224, 224], small: [2, 16, 32, 32] },
  pc1: { full: [1, 256, 224, 224], small: [1, 16, 32, 32] },
  nce: { full: [4, 256, 64, 64], small: [2, 16, 32, 32] },
  'nce-full': { full: [4, 256, 64, 64], small: [2, 16, 32, 32] },
};

// nce and nce-full share a seed: same features and mask, only sampling differs.
const SEEDS = { ce: 101, pc: 202, pc1: 202, nce: 303, 'nce-full': 303 };

// pc1 is the first image of pc (same seed; the masks of pc's whole batch are drawn, which costs
// eight random numbers each, so that the features start from the same generator state).
const FIRST_IMAGE_OF = { pc1: 'pc' };

export const CASE_NAMES = Object.keys(SIZES);

/**
 * Builds one benchmark case.
 * @param {'ce'|'pc'|'pc1'|'nce'|'nce-full'} name
 * @param {{small?: boolean}} [scale]
 */
export function makeCase(name, scale = {}) {
  if (!(name in SIZES)) throw new RangeError(`unknown case "${name}"; expected one of ${CASE_NAMES.join(', ')}`);
  const small = Boolean(scale.small);
  const shape = SIZES[name][small ? 'small' : 'full'];
  const [B, C, H, W] = shape;
  const rand = mulberry32(SEEDS[name]);
  const parent = FIRST_IMAGE_OF[name];
  const maskBatch = parent ? SIZES[parent][small ? 'small' : 'full'][0] : B;
  const mask = makeMask(rand, maskBatch, H, W).slice(0, B * H * W);
  const base = { name, small, shape, mask, temperature: 0.1 };

  if (name === 'ce') {
    const target = Int32Array.from(mask); // forged pixel -> class 1
    return {
      ...base,
      loss: 'cross_entropy',
      variants: ['mean'],
      logits: makeLogits(rand, B, C, H, W, target),
      target,
      weight: [0.0892, 0.9108],
      temperature: undefined,
    };
  }

  const features = makeFeatures(rand, B, C, H, W, mask);
  if (name === 'pc' || name === 'pc1') {
    return { ...base, loss: 'patch_contrast', variants: ['exact', 'cflnet'], features, patchSize: 4 };
  }
  if (name === 'nce') {
    const sampleSpec = { maxPerClass: small ? 100 : 1000, seed: 0 };
    // The package's own seeded sampler: every implementation then sees the same pixels.
    const sample = drawInfoNCESample({ mask, shape, ...sampleSpec });
    return { ...base, loss: 'info_nce', variants: ['mean-logit'], features, sample, sampleSpec };
  }
  return { ...base, loss: 'info_nce', variants: ['mean-logit', 'mean-exp'], features };
}

// ---------------------------------------------------------------------------
// Export for Python

const DTYPES = new Map([
  [Float32Array, 'float32'],
  [Int32Array, 'int32'],
]);

/**
 * Writes every typed array of the case as a raw little-endian file
 * (<field>.bin) and a meta.json describing shapes, dtypes, options and the
 * sample lists, which bench/baselines/torch_losses.py reads back.
 */
export function writeCaseBinaries(caseObj, dir) {
  if (endianness() !== 'LE') throw new Error('writeCaseBinaries assumes a little-endian machine');
  mkdirSync(dir, { recursive: true });
  const [B, C, H, W] = caseObj.shape;
  const shapes = {
    logits: [B, C, H, W],
    target: [B, H, W],
    features: [B, C, H, W],
    mask: [B, 1, H, W],
  };
  const arrays = {};
  for (const field of Object.keys(shapes)) {
    const data = caseObj[field];
    if (!data) continue;
    const file = `${field}.bin`;
    writeFileSync(join(dir, file), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    arrays[field] = { file, dtype: DTYPES.get(data.constructor), shape: shapes[field] };
  }
  const meta = {
    name: caseObj.name,
    loss: caseObj.loss,
    small: caseObj.small,
    shape: caseObj.shape,
    variants: caseObj.variants,
    options: {
      weight: caseObj.weight ?? null,
      temperature: caseObj.temperature ?? null,
      patch_size: caseObj.patchSize ?? null,
    },
    arrays,
    sample: caseObj.sample
      ? {
          pristine: caseObj.sample.pristine.map((a) => Array.from(a)),
          forged: caseObj.sample.forged.map((a) => Array.from(a)),
        }
      : null,
  };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  return meta;
}
