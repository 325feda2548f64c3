// Turns a fuzz descriptor (tests/fuzz/arbitraries.mjs) into the typed arrays of one call, the same
// every time: every random choice comes from mulberry32 streams seeded by the descriptor.

/** mulberry32, written from its published definition (the generator docs/spec.md §5.4 names), independently of src/sampler.ts: the tests check the package against it. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rand) {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

const int = (rand, n) => Math.floor(rand() * n);

function shuffle(a, rand) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = int(rand, i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Masks

const SINGLE_KINDS = ['blob', 'zeros', 'ones', 'pixel', 'pristinePixel', 'random', 'patches', 'fractional', 'ties'];

/** (B, 1, H, W) mask; `p` is the patch size that 'patches' and 'ties' align to. */
export function buildMask({ kind, seed, uint8 }, B, H, W, p) {
  const rand = mulberry32(seed ^ 0x5bd1e995);
  const m = new Float64Array(B * H * W);
  const kw = W / p;
  for (let b = 0; b < B; b++) {
    const k = kind === 'mixed' ? SINGLE_KINDS[int(rand, SINGLE_KINDS.length)] : kind;
    const at = (h, w) => (b * H + h) * W + w;
    if (k === 'blob') {
      const cy = H * (0.2 + 0.6 * rand()),
        cx = W * (0.2 + 0.6 * rand());
      const ry = Math.max(0.5, H * (0.1 + 0.3 * rand())),
        rx = Math.max(0.5, W * (0.1 + 0.3 * rand()));
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) m[at(h, w)] = ((h + 0.5 - cy) / ry) ** 2 + ((w + 0.5 - cx) / rx) ** 2 < 1 ? 1 : 0;
    } else if (k === 'zeros' || k === 'ones') {
      m.fill(k === 'ones' ? 1 : 0, at(0, 0), at(0, 0) + H * W);
    } else if (k === 'pixel' || k === 'pristinePixel') {
      const bg = k === 'pixel' ? 0 : 1;
      m.fill(bg, at(0, 0), at(0, 0) + H * W);
      m[at(int(rand, H), int(rand, W))] = 1 - bg;
    } else if (k === 'random') {
      const q = 0.05 + 0.9 * rand();
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) m[at(h, w)] = rand() < q ? 1 : 0;
    } else if (k === 'fractional') {
      // Multiples of 1/256 (exact in float32, and patch sums stay exact); some exact 0 and 1.
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const r = rand();
          m[at(h, w)] = r < 0.2 ? 0 : r < 0.4 ? 1 : int(rand, 257) / 256;
        }
    } else {
      // 'patches': clean 0/1 patches; 'ties': patches whose mean is exactly 0.5 (labelled 0).
      for (let r = 0; r < H / p; r++)
        for (let c = 0; c < kw; c++) {
          const cells = [];
          for (let h = r * p; h < r * p + p; h++) for (let w = c * p; w < c * p + p; w++) cells.push(at(h, w));
          const style =
            k === 'patches'
              ? rand() < 0.5
                ? 'zero'
                : 'one'
              : ['half', 'half', 'halfValue', 'zero', 'one'][int(rand, 5)];
          if (style === 'zero' || style === 'one') for (const i of cells) m[i] = style === 'one' ? 1 : 0;
          else if (style === 'halfValue' || cells.length % 2 === 1) {
            // odd p²: no 0/1 split is exactly half, so pair values that sum to 1 (and one 0.5).
            shuffle(cells, rand);
            for (let i = 0; i + 1 < cells.length; i += 2) {
              const v = int(rand, 257) / 256;
              m[cells[i]] = v;
              m[cells[i + 1]] = 1 - v;
            }
            if (cells.length % 2 === 1) m[cells[cells.length - 1]] = 0.5;
          } else {
            shuffle(cells, rand);
            cells.forEach((i, j) => {
              m[i] = j < cells.length / 2 ? 1 : 0;
            });
          }
        }
    }
  }
  const binary = m.every((v) => v === 0 || v === 1);
  return uint8 && binary ? Uint8Array.from(m) : Float32Array.from(m);
}

// ---------------------------------------------------------------------------------------------
// Features

/**
 * (B, C, H, W) features built from one vector per "site": per patch (patch losses, p > 0) or per
 * pixel (infoNCE, p = 0). Returns the Float32Array.
 */
export function buildFeatures(f, B, C, H, W, p, mask) {
  const rand = mulberry32(f.seed ^ 0x27d4eb2d);
  const perPatch = p > 0;
  const q = perPatch ? p : 1;
  const kh = H / q,
    kw = W / q,
    sites = kh * kw;
  const identical = f.kind === 'identical';
  // Exact-zero gradients (identical directions, or C = 1 where a unit vector is ±1) leave only
  // float32 rounding noise of about 6e-8·|upstream|/‖v‖: keep those vectors' norms at 0.5 or more
  // (see arbitraries.mjs), with no small vectors and no pixel noise that could cancel a patch mean.
  const degenerate = identical || C === 1;
  const scale = 10 ** (degenerate ? Math.max(f.scale, Math.log10(0.5)) : f.scale);
  const out = new Float32Array(B * C * H * W);
  const v = new Float64Array(sites * C);
  for (let b = 0; b < B; b++) {
    const siteLabel = (s) => {
      const r = Math.floor(s / kw),
        c = s % kw;
      let sum = 0;
      for (let h = r * q; h < r * q + q; h++)
        for (let w = c * q; w < c * q + q; w++) sum += Number(mask[(b * H + h) * W + w]);
      return sum / (q * q) > 0.5 ? 1 : 0;
    };
    const protos = Array.from({ length: 2 + int(rand, 2) }, () => Array.from({ length: C }, () => normal(rand)));
    const freqs = Array.from({ length: 3 }, () => [
      normal(rand) * 0.15,
      normal(rand) * 0.15,
      Array.from({ length: C }, () => [normal(rand), rand() * 2 * Math.PI]),
    ]);
    for (let s = 0; s < sites; s++) {
      const r = Math.floor(s / kw),
        col = s % kw;
      for (let c = 0; c < C; c++) {
        let x;
        switch (f.kind) {
          case 'gaussian':
            x = normal(rand);
            break;
          case 'smooth':
            x = freqs.reduce((acc, [fy, fx, a]) => acc + a[c][0] * Math.sin(fy * r * q + fx * col * q + a[c][1]), 0);
            break;
          case 'clustered':
            x = protos[siteLabel(s)][c] + 0.3 * normal(rand);
            break;
          case 'fewDistinct':
            x = 0;
            break;
          case 'identical':
            x = protos[0][c];
            break;
          default:
            throw new Error(`unknown feature kind ${f.kind}`);
        }
        v[s * C + c] = x * scale;
      }
      if (f.kind === 'fewDistinct') {
        const pr = protos[int(rand, protos.length)];
        for (let c = 0; c < C; c++) v[s * C + c] = pr[c] * scale;
      }
      if (identical) {
        // Powers of two: the float32 vectors stay exactly parallel, so the exact gradient is 0.
        const k = 2 ** (int(rand, 4) - 1);
        for (let c = 0; c < C; c++) v[s * C + c] *= k;
      }
      if (C === 1) v[s] = Math.sign(v[s] || 1) * Math.max(Math.abs(v[s]), 0.5 * scale);
    }
    // Special vectors: zero, below the 1e-12 threshold (norm ≤ 3e-14), small, huge, duplicates.
    const scaleTo = (s, norm) => {
      let n2 = 0;
      for (let c = 0; c < C; c++) n2 += v[s * C + c] ** 2;
      let k = n2 > 0 ? norm / Math.sqrt(n2) : 0;
      if (degenerate && k > 0) k = 2 ** Math.round(Math.log2(k)); // keep the direction exact
      for (let c = 0; c < C; c++) v[s * C + c] *= k;
    };
    for (let s = 0; s < sites; s++) {
      const u = rand();
      const [zero, tiny, small, huge] = [
        f.zero,
        f.zero + f.tiny,
        f.zero + f.tiny + (degenerate ? 0 : f.small),
        f.zero + f.tiny + (degenerate ? 0 : f.small) + f.huge,
      ];
      if (u < zero) {
        scaleTo(s, 0);
        continue;
      }
      if (u < tiny) {
        scaleTo(s, 10 ** (-14 - 2 * rand()) * 3);
        continue;
      }
      if (u < small) {
        scaleTo(s, 1e-4 * (1 + rand()));
        continue;
      }
      if (u < huge) {
        scaleTo(s, 1e12 * (1 + rand()));
        continue;
      }
      if (u < huge + f.dup && sites > 1) {
        const from = int(rand, sites);
        for (let c = 0; c < C; c++) v[s * C + c] = v[from * C + c];
      }
    }
    // Pixels: the site vector, plus (patch losses) pixel noise relative to the site's own size.
    const noise = perPatch && !degenerate ? f.pixelNoise : 0;
    for (let s = 0; s < sites; s++) {
      const r = Math.floor(s / kw),
        col = s % kw;
      let rms = 0;
      for (let c = 0; c < C; c++) rms += v[s * C + c] ** 2;
      rms = Math.sqrt(rms / C);
      for (let h = r * q; h < r * q + q; h++) {
        for (let w = col * q; w < col * q + q; w++) {
          for (let c = 0; c < C; c++)
            out[((b * C + c) * H + h) * W + w] = v[s * C + c] + (noise && rms ? noise * rms * normal(rand) : 0);
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// infoNCE samples

/** The seeded sampler of docs/spec.md §5.4, written again from its description. */
export function seededSample(mask, B, HW, maxPerClass, seed = 0) {
  const pristine = [],
    forged = [];
  for (let b = 0; b < B; b++) {
    const rand = mulberry32((seed + 0x9e3779b9 * b) % 2 ** 32);
    for (const [cls, into] of [
      [0, pristine],
      [1, forged],
    ]) {
      const a = [];
      for (let k = 0; k < HW; k++) if (Number(mask[b * HW + k]) === cls) a.push(k);
      const k = Math.min(a.length, maxPerClass);
      for (let i = 0; i < k; i++) {
        const j = i + Math.floor(rand() * (a.length - i));
        [a[i], a[j]] = [a[j], a[i]];
      }
      into.push(a.slice(0, k));
    }
  }
  return { pristine, forged };
}

function explicitSample(mask, B, HW, { sizes, seed }) {
  const rand = mulberry32(seed ^ 0x68e31da4);
  const pick = (all, cls) => {
    shuffle(all, rand);
    let n = all.length;
    if (sizes === 'random') n = int(rand, all.length + 1);
    else if (sizes === 'small') n = Math.min(all.length, int(rand, 4));
    else if (sizes === 'tiny') n = Math.min(all.length, cls === 0 ? 1 + int(rand, 2) : int(rand, 2));
    return all.slice(0, n);
  };
  const lists = classLists(mask, B, HW);
  // Image by image, pristine then forged: the draw order that recorded seeds replay.
  const pristine = [],
    forged = [];
  for (let b = 0; b < B; b++) {
    pristine.push(pick(lists.pristine[b], 0));
    forged.push(pick(lists.forged[b], 1));
  }
  return { pristine, forged };
}

// ---------------------------------------------------------------------------------------------
// Whole calls

function logits(n, seed, log10Scale) {
  const rand = mulberry32(seed ^ 0x1b873593),
    s = 10 ** log10Scale;
  return Float32Array.from({ length: n }, () => normal(rand) * s);
}

/**
 * The API call of a descriptor: { fn, options } for the engine and `ref`, the reference's options
 * (the same arrays, plus the explicit sample lists the engine draws itself for a seeded sample).
 */
export function materialize(d) {
  const { B, C, H, W } = d;
  const HW = H * W;
  switch (d.loss) {
    case 'crossEntropy': {
      const rand = mulberry32(d.seed);
      const options = {
        logits: logits(B * C * HW, d.seed, d.logitScale),
        shape: [B, C, H, W],
        reduction: d.reduction,
        labelSmoothing: d.labelSmoothing,
      };
      if (d.weight !== 'none') {
        options.weight = Array.from({ length: C }, () =>
          d.weight === 'ones' ? 1 : d.weight === 'withZeros' && rand() < 0.4 ? 0 : 0.1 + 1.9 * rand(),
        );
      }
      if (d.target === 'probs') {
        const q = new Float32Array(B * C * HW);
        for (let b = 0; b < B; b++)
          for (let k = 0; k < HW; k++) {
            const raw = Array.from({ length: C }, () =>
              d.probs === 'softmax' ? Math.exp(2 * normal(rand)) : d.probs === 'unnormalized' ? 2 * rand() : 0,
            );
            if (d.probs === 'onehot') raw[int(rand, C)] = 1;
            const sum = d.probs === 'softmax' ? raw.reduce((a, x) => a + x, 0) : 1;
            for (let c = 0; c < C; c++) q[(b * C + c) * HW + k] = raw[c] / sum;
          }
        options.targetProbs = q;
        if (d.ignore !== 'default') options.ignoreIndex = -5; // negative: allowed with probabilities, and unused
      } else {
        const max = d.target === 'uint8' ? 255 : d.target === 'uint16' ? 65535 : 2 ** 31 - 1;
        const ignoreIndex = d.ignore === '255' ? 255 : d.ignore === 'inRange' ? int(rand, C) : -100;
        if (d.ignore !== 'default') options.ignoreIndex = ignoreIndex;
        // -100 fits only an Int32Array; a Uint8Array / Uint16Array target then has no ignored element.
        const representable = d.target === 'int32' || (ignoreIndex >= 0 && ignoreIndex <= max);
        const t = Array.from({ length: B * HW }, () =>
          representable && rand() < d.ignoredFraction ? ignoreIndex : int(rand, C),
        );
        options.target =
          d.target === 'uint8' ? Uint8Array.from(t) : d.target === 'uint16' ? Uint16Array.from(t) : Int32Array.from(t);
      }
      if (!d.grad) options.grad = false;
      return { fn: 'crossEntropy', options, ref: { ...options } };
    }
    case 'patchContrast': {
      const mask = buildMask(d.mask, B, H, W, d.p);
      const features = buildFeatures(d.features, B, C, H, W, d.p, mask);
      const options = { features, mask, shape: [B, C, H, W] };
      if (!(d.defaults && d.p === 4)) options.patchSize = d.p;
      if (!(d.defaults && d.temperature === 0.1)) options.temperature = d.temperature;
      if (!(d.defaults && d.variant === 'exact')) options.variant = d.variant;
      if (!d.grad) options.grad = false;
      return {
        fn: 'patchContrast',
        options,
        ref: { features, mask, shape: [B, C, H, W], patchSize: d.p, temperature: d.temperature, variant: d.variant },
      };
    }
    case 'infoNCE': {
      const p = H % 2 === 0 && W % 2 === 0 ? 2 : 1;
      const mask = buildMask(d.mask, B, H, W, p);
      const features = buildFeatures(d.features, B, C, H, W, 0, mask);
      const options = { features, mask, shape: [B, C, H, W] };
      if (!(d.defaults && d.temperature === 0.1)) options.temperature = d.temperature;
      if (!(d.defaults && d.positive === 'mean-logit')) options.positive = d.positive;
      if (!d.grad) options.grad = false;
      const ref = { features, mask, shape: [B, C, H, W], temperature: d.temperature, positive: d.positive };
      if (d.sample.kind === 'seeded') {
        options.sample =
          d.sample.seed === undefined
            ? { maxPerClass: d.sample.maxPerClass }
            : { maxPerClass: d.sample.maxPerClass, seed: d.sample.seed };
        ref.sample = seededSample(mask, B, HW, d.sample.maxPerClass, d.sample.seed ?? 0);
      } else if (d.sample.kind === 'explicit') {
        const lists = explicitSample(mask, B, HW, d.sample);
        options.sample = { pristine: lists.pristine.map((l) => l.slice()), forged: lists.forged.map((l) => l.slice()) };
        ref.sample = lists;
      }
      return { fn: 'infoNCE', options, ref };
    }
    case 'cflObjective': {
      const mask = buildMask(d.mask, B, H, W, d.p);
      const features = buildFeatures(d.features, B, C, H, W, d.p, mask);
      const options = {
        logits: logits(B * 2 * HW, d.seed, d.logitScale),
        features,
        mask,
        shape: [B, C, H, W],
        patchSize: d.p,
        temperature: d.temperature,
      };
      if (d.weight) options.weight = d.weight;
      if (d.alpha !== null) options.alpha = d.alpha;
      if (!d.grad) options.grad = false;
      const ref = { ...options };
      delete ref.grad;
      return { fn: 'cflObjective', options, ref };
    }
    default:
      throw new Error(`unknown loss ${d.loss}`);
  }
}

/** Per image, the pristine (mask exactly 0) and forged (exactly 1) pixel indices, ascending. */
export function classLists(mask, B, HW) {
  const pristine = [],
    forged = [];
  for (let b = 0; b < B; b++) {
    const p = [],
      f = [];
    for (let k = 0; k < HW; k++) {
      const m = Number(mask[b * HW + k]);
      if (m === 0) p.push(k);
      else if (m === 1) f.push(k);
    }
    pristine.push(p);
    forged.push(f);
  }
  return { pristine, forged };
}
