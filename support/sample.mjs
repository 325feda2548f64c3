// The sample of `forgery-losses demo`: two synthetic 64×64 images with 16-channel features, 2-class
// logits and a forged blob each, from a fixed seed, so that every run on every runtime gets the same
// bytes. The CLI makes it at run time (it is bundled into dist/cli.js; the package ships no data);
// scripts/make-sample.mjs writes it to sample/ for the browser demo and the tests. Typed for the
// CLI's TypeScript by sample.d.mts.
import { mulberry32 } from './mulberry32.mjs';

export const SEED = 20240611;
export const SHAPE = [2, 16, 64, 64];
const [B, C, H, W] = SHAPE;
const HW = H * W;

/** Three passes of a (2r+1)-wide box blur per axis (close to a Gaussian), edges clamped, in place. */
function blur(field, r) {
  const tmp = new Float64Array(HW);
  const at = (i, lo, hi) => Math.min(hi, Math.max(lo, i));
  for (let pass = 0; pass < 3; pass++) {
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let d = -r; d <= r; d++) s += field[y * W + at(x + d, 0, W - 1)];
        tmp[y * W + x] = s / (2 * r + 1);
      }
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let d = -r; d <= r; d++) s += tmp[at(y + d, 0, H - 1) * W + x];
        field[y * W + x] = s / (2 * r + 1);
      }
  }
  return field;
}

/** The sample: float32 NCHW arrays (mask (B, 1, H, W), exactly 0 or 1) and the forged-pixel count. */
export function makeSample() {
  const rand = mulberry32(SEED);
  const uniform = (lo, hi) => lo + (hi - lo) * rand();
  /** One standard normal sample (Box–Muller). */
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());

  /** A smooth random field of zero mean and unit standard deviation. */
  function smoothField(r) {
    const f = blur(Float64Array.from({ length: HW }, normal), r);
    let mean = 0,
      sq = 0;
    for (const v of f) mean += v / HW;
    for (const v of f) sq += (v - mean) ** 2 / HW;
    return f.map((v) => (v - mean) / Math.sqrt(sq));
  }

  /** An irregular blob: a star-shaped region whose radius wobbles with the angle (values 0 or 1). */
  function blob() {
    const cy = uniform(0.35, 0.65) * H,
      cx = uniform(0.35, 0.65) * W,
      r0 = uniform(10, 15);
    const waves = [2, 3, 5].map((k) => ({ k, a: uniform(0.05, 0.2), phase: uniform(0, 2 * Math.PI) }));
    const m = new Float64Array(HW);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const theta = Math.atan2(y - cy, x - cx);
        const radius = r0 * (1 + waves.reduce((s, w) => s + w.a * Math.cos(w.k * theta + w.phase), 0));
        m[y * W + x] = Math.hypot(y - cy, x - cx) < radius ? 1 : 0;
      }
    return m;
  }

  const features = new Float32Array(B * C * HW),
    logits = new Float32Array(B * 2 * HW),
    mask = new Float32Array(B * HW);
  for (let b = 0; b < B; b++) {
    const m = blob();
    mask.set(m, b * HW);
    // Forged pixels come from another distribution: shifted by a per-image direction, narrower.
    const shift = Array.from({ length: C }, () => 1.2 * normal());
    for (let c = 0; c < C; c++) {
      const f = smoothField(3);
      for (let k = 0; k < HW; k++) features[(b * C + c) * HW + k] = m[k] === 1 ? 0.7 * f[k] + shift[c] : f[k];
    }
    // Logits of a plausible but imperfect detector: the blurred mask as evidence, plus smooth noise.
    const evidence = blur(Float64Array.from(m), 2);
    for (let cls = 0; cls < 2; cls++) {
      const noise = smoothField(2),
        sign = cls === 1 ? 1 : -1;
      for (let k = 0; k < HW; k++) logits[(b * 2 + cls) * HW + k] = sign * 2 * (2 * evidence[k] - 1) + 0.8 * noise[k];
    }
  }
  const forged = mask.reduce((n, v) => n + v, 0);
  return { features, logits, mask, shape: [B, C, H, W], forged };
}

/** The bytes of a version 1.0 .npy file of float32 `values` with `shape`. */
export function npyBytes(values, shape) {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  const headerLength = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const out = new Uint8Array(10 + headerLength + 4 * values.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(out.buffer);
  view.setUint16(8, headerLength, true);
  out.set(new TextEncoder().encode(`${dict.padEnd(headerLength - 1, ' ')}\n`), 10);
  for (let i = 0; i < values.length; i++) view.setFloat32(10 + headerLength + 4 * i, values[i], true);
  return out;
}

/** sample/README.md: what the files are. */
export function sampleReadme(forged) {
  return `# Sample inputs of \`forgery-losses demo\`

Synthetic data, made by \`node scripts/make-sample.mjs\` (mulberry32 seeded with ${SEED}; the
generator is \`support/sample.mjs\`, which \`forgery-losses demo\` runs itself, so the package ships
no data). Layout NCHW, float32, little-endian, NumPy \`.npy\` format 1.0.

| file | shape | content |
|---|---|---|
| \`features.npy\` | (${B}, ${C}, ${H}, ${W}) | per channel a smooth Gaussian random field (white noise blurred by three box passes of width 7, standardized); inside the forged region it is scaled by 0.7 and shifted by a per-image random direction (1.2 · N(0, 1) per channel) |
| \`logits.npy\` | (${B}, 2, ${H}, ${W}) | a rough detector: class 1 = 2 · (2 · blurred mask − 1) + 0.8 · smooth noise, class 0 = the negated evidence + its own noise |
| \`mask.npy\` | (${B}, 1, ${H}, ${W}) | the forged region of each image, exactly 0 (pristine) or 1 (forged): a star-shaped blob whose radius (10–15 px) wobbles with the angle |

${forged} of ${B * HW} pixels are forged. The demo uses the mask both as the pixel mask and, as
class indices, as the cross-entropy target.
`;
}
