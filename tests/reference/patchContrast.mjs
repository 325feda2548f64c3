// Float64 test oracle for patch_contrast (docs/spec.md §4), variants 'exact' and 'cflnet'.
// Plain loops, never shipped. Also exports the L2 normalization of 4.1.2, which info_nce reuses (5.1).

export const NORM_EPS = 1e-12;
const CFL_EPS = 1e-18;

/** F.normalize: z = v / max(||v||, 1e-12). Returns ||v||, which the backward needs. */
export function normalize(v, z) {
  let sq = 0;
  for (let c = 0; c < v.length; c++) sq += v[c] * v[c];
  const norm = Math.sqrt(sq);
  const denom = Math.max(norm, NORM_EPS);
  for (let c = 0; c < v.length; c++) z[c] = v[c] / denom;
  return norm;
}

/**
 * dL/dv from dL/dz. At ||v|| ≥ 1e-12: (g − z(z·g))/||v||. Below, the denominator is the constant
 * 1e-12, so dz/dv = I/1e-12 (a zero vector gets g·1e12). At exactly 1e-12 PyTorch's clamp_min
 * still passes the gradient through the norm, hence ≥.
 */
export function normalizeBackward(z, norm, gz, gv) {
  if (norm < NORM_EPS) {
    for (let c = 0; c < z.length; c++) gv[c] = gz[c] / NORM_EPS;
    return;
  }
  let zg = 0;
  for (let c = 0; c < z.length; c++) zg += z[c] * gz[c];
  for (let c = 0; c < z.length; c++) gv[c] = (gz[c] - z[c] * zg) / norm;
}

/**
 * @param {{features: ArrayLike<number>, mask: ArrayLike<number>, shape: number[], patchSize?: number,
 *   temperature?: number, variant?: 'exact'|'cflnet', frozenColumnMax?: ArrayLike<number>}} opts
 *   frozenColumnMax (test hook, cflnet only): use these (B, N) values as c_j instead of computing
 *   them, so that a finite difference sees c as the constant the detached gradient assumes.
 *   cflnetGradient (cflnet only): 'autograd' (default) differentiates r = e/den in PyTorch's order,
 *   as the golden files do; 'stable' uses the algebraically equal dr/de = (D + 1e-18)/den², which
 *   docs/spec.md §4.2 also accepts and which avoids the autograd form's cancellation (1 − r computed
 *   as a difference) when every e is far above 1e-18.
 * @returns {{loss: number, perImageLoss: Float64Array, perPatchLoss: Float64Array,
 *   patchLabels: Uint8Array, grid: [number, number], columnMax: Float64Array|null, grad: Float64Array}}
 */
export function patchContrastRef({
  features,
  mask,
  shape,
  patchSize = 4,
  temperature = 0.1,
  variant = 'exact',
  frozenColumnMax,
  cflnetGradient = 'autograd',
}) {
  const [B, C, H, W] = shape;
  const p = patchSize,
    kh = H / p,
    kw = W / p,
    N = kh * kw;
  if (!Number.isInteger(kh) || !Number.isInteger(kw)) throw new Error(`H and W must be multiples of ${p}`);
  const f = Float64Array.from(features);
  const grad = new Float64Array(f.length);
  const perImageLoss = new Float64Array(B),
    perPatchLoss = new Float64Array(B * N);
  const patchLabels = new Uint8Array(B * N);
  const columnMax = variant === 'cflnet' ? new Float64Array(B * N) : null;
  const geometry = { C, H, W, p, kw, N };

  for (let b = 0; b < B; b++) {
    const image = f.subarray(b * C * H * W, (b + 1) * C * H * W);
    const v = poolFeatures(image, geometry);
    const labels = patchLabelsOf(mask, b * H * W, geometry);
    patchLabels.set(labels, b * N);
    const z = new Float64Array(N * C),
      norms = new Float64Array(N);
    for (let n = 0; n < N; n++) norms[n] = normalize(v.subarray(n * C, (n + 1) * C), z.subarray(n * C, (n + 1) * C));
    const s = similarities(z, N, C, temperature);

    let anchors;
    if (variant === 'cflnet') {
      const c = frozenColumnMax ? Float64Array.from(frozenColumnMax).subarray(b * N, (b + 1) * N) : columnMaxima(s, N);
      columnMax.set(c, b * N);
      anchors = cflnetAnchors(s, labels, c, cflnetGradient === 'stable');
    } else if (variant === 'exact') anchors = exactAnchors(s, labels);
    else throw new Error(`unknown variant ${variant}`);

    perPatchLoss.set(anchors.loss, b * N);
    let sum = 0;
    for (const L of anchors.loss) sum += L;
    perImageLoss[b] = sum / N;
    // Batch loss = mean over B of (mean over N of L_i), so each L_i enters with weight 1/(B·N).
    const gz = similarityBackward(anchors.gradS, z, N, C, temperature, 1 / (B * N));
    const gv = new Float64Array(N * C);
    for (let n = 0; n < N; n++)
      normalizeBackward(
        z.subarray(n * C, (n + 1) * C),
        norms[n],
        gz.subarray(n * C, (n + 1) * C),
        gv.subarray(n * C, (n + 1) * C),
      );
    unpoolInto(gv, grad.subarray(b * C * H * W, (b + 1) * C * H * W), geometry);
  }
  let loss = 0;
  for (const L of perImageLoss) loss += L;
  return { loss: loss / B, perImageLoss, perPatchLoss, patchLabels, grid: [kh, kw], columnMax, grad };
}

/** Average pooling of one image (C, H, W) into N patch vectors, stored patch-major (N, C). */
function poolFeatures(image, { C, H, W, p, kw, N }) {
  const v = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const r = Math.floor(n / kw),
      col = n % kw;
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let h = r * p; h < r * p + p; h++)
        for (let w = col * p; w < col * p + p; w++) sum += image[(c * H + h) * W + w];
      v[n * C + c] = sum / (p * p);
    }
  }
  return v;
}

/** Each pixel of patch n receives (1/p²)·dL/dv_n. */
function unpoolInto(gv, gImage, { C, H, W, p, kw, N }) {
  for (let n = 0; n < N; n++) {
    const r = Math.floor(n / kw),
      col = n % kw;
    for (let c = 0; c < C; c++) {
      const g = gv[n * C + c] / (p * p);
      for (let h = r * p; h < r * p + p; h++)
        for (let w = col * p; w < col * p + p; w++) gImage[(c * H + h) * W + w] = g;
    }
  }
}

/** lab_n = (patch mean of the mask > 0.5): strict, so an exactly half-forged patch is pristine. */
function patchLabelsOf(mask, offset, { W, p, kw, N }) {
  const labels = new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    const r = Math.floor(n / kw),
      col = n % kw;
    let sum = 0;
    for (let h = r * p; h < r * p + p; h++)
      for (let w = col * p; w < col * p + p; w++) sum += Number(mask[offset + h * W + w]);
    labels[n] = sum / (p * p) > 0.5 ? 1 : 0;
  }
  return labels;
}

/** s_ij = (z_i · z_j) / t, an N×N matrix (diagonal included; the variants decide its use). */
function similarities(z, N, C, t) {
  const s = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let dot = 0;
      for (let c = 0; c < C; c++) dot += z[i * C + c] * z[j * C + c];
      s[i * N + j] = dot / t;
    }
  }
  return s;
}

/** dL/dz from dL/ds (scaled by `scale`): s_ij = z_i·z_j/t feeds both z_i and z_j. */
function similarityBackward(gradS, z, N, C, t, scale) {
  const gz = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      const g = (gradS[i * N + j] * scale) / t;
      if (g === 0) continue;
      for (let c = 0; c < C; c++) {
        gz[i * C + c] += g * z[j * C + c];
        gz[j * C + c] += g * z[i * C + c];
      }
    }
  }
  return gz;
}

/** Positives P_i (same label, j ≠ i) and negatives N_i (other label) of anchor i. */
function splitByLabel(labels, i) {
  const positives = [],
    negatives = [];
  for (let j = 0; j < labels.length; j++) {
    if (labels[j] !== labels[i]) negatives.push(j);
    else if (j !== i) positives.push(j);
  }
  return { positives, negatives };
}

/**
 * 4.3: L_i = mean_{p∈P_i} softplus(LSE_{n∈N_i} s_in − s_ip). Returns the per-anchor losses and
 * gradS = d(Σ_i L_i)/ds.
 */
function exactAnchors(s, labels) {
  const N = labels.length;
  const loss = new Float64Array(N),
    gradS = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    const { positives, negatives } = splitByLabel(labels, i);
    // Empty P_i: L_i = 0 by definition. Empty N_i: every term is ln(1) = 0, no gradient.
    if (positives.length === 0 || negatives.length === 0) continue;
    const row = (j) => s[i * N + j];
    const lse = logSumExp(negatives.map(row));
    const perPositive = 1 / positives.length;
    for (const pos of positives) {
      const x = lse - row(pos);
      loss[i] += softplus(x);
      // d softplus(x)/dx = sigmoid(x); x rises with every s_in (softmax weights), falls with s_ip.
      const g = sigmoid(x) * perPositive;
      gradS[i * N + pos] -= g;
      for (const n of negatives) gradS[i * N + n] += g * Math.exp(row(n) - lse);
    }
    loss[i] *= perPositive;
  }
  return { loss, gradS };
}

/** c_j = max_i s'_ij with the diagonal logit forced to 0 (so c_j ≥ 0). */
function columnMaxima(s, N) {
  const c = new Float64Array(N);
  for (let j = 0; j < N; j++) {
    let max = -Infinity;
    for (let i = 0; i < N; i++) max = Math.max(max, i === j ? 0 : s[i * N + j]);
    c[j] = max;
  }
  return c;
}

/**
 * 4.2, in the official evaluation order: e_ij = exp(s'_ij − c_j), D_i = Σ_{n∈N_i} e_in,
 * r_ij = e_ij / ((e_ij + D_i) + 1e-18), λ_ij = −ln(r_ij + 1e-18), L_i = mean_{j∈P_i} λ_ij.
 * gradS = d(Σ_i L_i)/ds with c held constant (the official code detaches it), which is why c is a
 * parameter here and never differentiated.
 */
function cflnetAnchors(s, labels, c, stable = false) {
  const N = labels.length;
  const loss = new Float64Array(N),
    gradS = new Float64Array(N * N);
  // The diagonal (s'_ii = 0) only mattered for c; P_i and N_i never contain i.
  const e = (i, j) => Math.exp(s[i * N + j] - c[j]);
  for (let i = 0; i < N; i++) {
    const { positives, negatives } = splitByLabel(labels, i);
    if (positives.length === 0) continue; // L_i = 0, still counted in the image mean
    let D = 0;
    for (const n of negatives) D += e(i, n);
    const perPositive = 1 / positives.length;
    let gradD = 0;
    for (const j of positives) {
      const eij = e(i, j);
      const den = eij + D + CFL_EPS;
      const r = eij / den;
      loss[i] += -Math.log(r + CFL_EPS);
      // Chain rule in autograd's form for r = e/den, den = e + D + eps: the numerator term
      // g/den and the denominator term −g·(r/den), which reaches both e_ij and D_i.
      const gr = -perPositive / (r + CFL_EPS);
      const gDen = -gr * (r / den);
      // stable: gr/den + gDen = gr·(1 − r)/den = gr·(D + 1e-18)/den², without the difference.
      gradS[i * N + j] += (stable ? (gr * (D + CFL_EPS)) / (den * den) : gr / den + gDen) * eij; // de/ds' = e (c constant)
      gradD += gDen;
    }
    for (const n of negatives) gradS[i * N + n] += gradD * e(i, n);
    loss[i] *= perPositive;
  }
  return { loss, gradS };
}

/** LSE of a list; −Infinity for an empty list (docs/spec.md §1). */
export function logSumExp(values) {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** ln(1 + e^x) without overflow for large x and without losing tiny results for very negative x. */
function softplus(x) {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const ex = Math.exp(x);
  return ex / (1 + ex);
}
