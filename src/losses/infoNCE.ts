// infoNCE: FOCAL's per-image InfoNCE++ (spec section 5). The TypeScript side builds the query and
// negative index lists (all pixels, a seeded sample, or explicit lists); the kernel does the rest.

import { drawSample, imageGenerator } from '../sampler';
import type { InfoNCEOptions, InfoNCEResult, Mask } from '../types';
import {
  checkBoolean,
  checkChoice,
  checkFloat32,
  checkMask,
  checkOptions,
  checkShape,
  checkTemperature,
} from '../validate';
import { ARENA_SLACK, checkMemoryBudget, type MemoryNeed, roundUp8, type WasmContext } from './context';
import type { InfoNCEImage, InfoNCEJob } from './imageJobs';
import { splitBatchResult, stackImages, stackSets } from './batchScope';

const POSITIVE = { 'mean-logit': 0, 'mean-exp': 1 } as const;
const STRIP_ROWS = 32;

interface Parsed {
  b: number;
  c: number;
  hw: number;
  features: Float32Array;
  mask: Mask;
  temperature: number;
  positive: 'mean-logit' | 'mean-exp';
  scope: 'image' | 'batch';
  /** Per image: query (pristine) and negative (forged) pixel indices, as built. */
  queries: Int32Array[];
  negatives: Int32Array[];
  grad: boolean;
}

function parse(options: InfoNCEOptions): Parsed {
  const o = checkOptions(options, 'infoNCE');
  const [b, c, h, w] = checkShape(o.shape);
  const hw = h * w;
  const features = checkFloat32(o.features, 'features', b * c * hw);
  const mask = checkMask(o.mask, 'mask', b * hw);
  const temperature = checkTemperature(o.temperature);
  const positive = checkChoice(o.positive, 'positive', ['mean-logit', 'mean-exp'] as const, 'mean-logit');
  const scope = checkChoice(o.scope, 'scope', ['image', 'batch'] as const, 'image');
  const { queries, negatives } =
    scope === 'batch' ? stackSets(mask, b, hw, o.sample, buildSets) : buildSets(mask, b, hw, o.sample);
  return {
    b,
    c,
    hw,
    features,
    mask,
    temperature,
    positive,
    scope,
    queries,
    negatives,
    grad: checkBoolean(o.grad, 'grad', true),
  };
}

/** Pristine (mask exactly 0) and forged (exactly 1) pixels of image b, ascending. */
function classPixels(mask: Mask, b: number, hw: number): [Int32Array, Int32Array] {
  const pristine: number[] = [],
    forged: number[] = [];
  for (let k = 0, o = b * hw; k < hw; k++) {
    const v = mask[o + k];
    if (v === 0) pristine.push(k);
    else if (v === 1) forged.push(k);
  }
  return [Int32Array.from(pristine), Int32Array.from(forged)];
}

export function buildSets(
  mask: Mask,
  b: number,
  hw: number,
  sample: unknown,
): { queries: Int32Array[]; negatives: Int32Array[] } {
  const queries: Int32Array[] = [],
    negatives: Int32Array[] = [];
  if (sample === undefined) {
    for (let i = 0; i < b; i++) {
      const [p, f] = classPixels(mask, i, hw);
      queries.push(p);
      negatives.push(f);
    }
    return { queries, negatives };
  }
  if (sample === null || typeof sample !== 'object')
    throw new TypeError('sample must be { maxPerClass, seed? } or { pristine, forged }');
  const s = sample as Record<string, unknown>;
  const seeded = 'maxPerClass' in s || 'seed' in s,
    explicit = 'pristine' in s || 'forged' in s;
  if (seeded === explicit)
    throw new TypeError('sample takes exactly one form: { maxPerClass, seed? } or { pristine, forged }');
  if (seeded) {
    const max = s.maxPerClass,
      seed = s.seed ?? 0;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1)
      throw new RangeError(`sample.maxPerClass must be an integer ≥ 1; got ${String(max)}`);
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
      throw new RangeError(`sample.seed must be an integer in [0, 2³²); got ${String(seed)}`);
    for (let i = 0; i < b; i++) {
      const [p, f] = classPixels(mask, i, hw);
      const rand = imageGenerator(seed, i);
      queries.push(drawSample(p, max, rand));
      negatives.push(drawSample(f, max, rand));
    }
    return { queries, negatives };
  }
  for (let i = 0; i < b; i++) {
    queries.push(explicitList(s.pristine, 'pristine', i, b, mask, hw, 0));
    negatives.push(explicitList(s.forged, 'forged', i, b, mask, hw, 1));
  }
  return { queries, negatives };
}

/** Validates sample[field][b]: integer pixel indices in range, distinct, of the right class. */
function explicitList(
  lists: unknown,
  field: string,
  b: number,
  batch: number,
  mask: Mask,
  hw: number,
  cls: 0 | 1,
): Int32Array {
  if (!Array.isArray(lists) || lists.length !== batch)
    throw new TypeError(`sample.${field} must be an array of B = ${batch} index lists`);
  const list = lists[b] as ArrayLike<number>;
  if (list === null || typeof list !== 'object' || typeof list.length !== 'number')
    throw new TypeError(`sample.${field}[${b}] must be an array of pixel indices`);
  const out = new Int32Array(list.length);
  const seen = new Uint8Array(hw);
  for (let i = 0; i < list.length; i++) {
    const k = list[i];
    const where = `sample.${field}[${b}][${i}] = ${k}`;
    if (!Number.isInteger(k) || k < 0 || k >= hw)
      throw new RangeError(`${where}: pixel indices must be integers in [0, ${hw})`);
    if (seen[k]) throw new RangeError(`${where}: repeated index`);
    if (mask[b * hw + k] !== cls)
      throw new RangeError(
        `${where}: the mask there is ${mask[b * hw + k]}, not ${cls} (${field} pixels must have mask ${cls})`,
      );
    seen[k] = 1;
    out[i] = k;
  }
  return out;
}

/**
 * The pixels a seeded `sample: { maxPerClass, seed }` call uses: per image the pristine (query)
 * and forged (negative) indices k = h·W + w, in draw order. Lets other implementations (or a
 * later explicit-list call) see exactly the same pixels.
 */
export function drawInfoNCESample(options: {
  scope?: 'image' | 'batch';
  mask: Mask;
  shape: readonly [number, number, number, number];
  maxPerClass: number;
  seed?: number;
}): { pristine: Int32Array[]; forged: Int32Array[] } {
  const o = checkOptions(options, 'drawInfoNCESample');
  const [b, , h, w] = checkShape(o.shape);
  const mask = checkMask(o.mask, 'mask', b * h * w);
  const scope = checkChoice(o.scope, 'scope', ['image', 'batch'] as const, 'image');
  // Scope 'batch' draws from the stacked image (one list of stacked indices b·H·W + k).
  const [images, hw] = scope === 'batch' ? [1, b * h * w] : [b, h * w];
  const { queries, negatives } = buildSets(mask, images, hw, { maxPerClass: o.maxPerClass, seed: o.seed });
  return { pristine: queries, forged: negatives };
}

/**
 * Wasm memory of one image of C channels and `hw` pixels with j queries and m negatives. Wrapper
 * (imageJobs.ts): the features, the index lists, the per-query outputs (8 bytes per query) and the
 * zeroed gradient. Kernel: U, X, their panels (mean-exp packs U too), dU and dX (rows × C_p
 * float32), norms (8 per row), the strips of negative logits (and, for mean-exp, of query logits),
 * ℓ0, its LSE and ∂loss/∂ℓ0 (12 per query row), S and T (a row each). A skipped image only has its
 * features checked.
 */
function imageMemory(p: Parsed, hw: number, j: number, m: number, used: boolean): MemoryNeed {
  const features = p.c * hw * 4;
  if (!used) return features + ARENA_SLACK;
  const jp = roundUp8(j),
    mp = roundUp8(m),
    row = roundUp8(p.c) * 4;
  const meanExp = p.positive === 'mean-exp';
  const strips = STRIP_ROWS * 4 * (mp + (meanExp ? jp : 0));
  return (
    features * (p.grad ? 2 : 1) +
    12 * j +
    4 * m +
    ((meanExp ? 3 : 2) * jp + 3 * mp) * row +
    8 * (jp + mp) +
    strips +
    12 * jp +
    2 * row +
    ARENA_SLACK
  );
}

/** The images a call computes: the B images (scope 'image') or their vertical stack ('batch'). */
interface Dictionary {
  hw: number;
  /** Features of image i (C × hw); `owned` when it is already a private copy. */
  features(i: number): Float32Array;
  owned: boolean;
  offset(i: number): number;
  stacked: number;
}

export async function runInfoNCE(ctx: WasmContext, options: InfoNCEOptions): Promise<InfoNCEResult> {
  const p = parse(options);
  const { b, c } = p;
  const chw = c * p.hw;
  const dict: Dictionary =
    p.scope === 'batch'
      ? ((stacked) => ({ hw: b * p.hw, features: () => stacked, owned: true, offset: () => 0, stacked: b }))(
          stackImages(p.features, b, c, p.hw),
        )
      : {
          hw: p.hw,
          features: (i) => p.features.subarray(i * chw, (i + 1) * chw),
          owned: false,
          offset: (i) => i * chw,
          stacked: 1,
        };
  const counts = p.queries.map((q, i): [number, number] => [q.length, p.negatives[i].length]);
  const used = counts.map(([j, m]) => j >= 2 && m >= 1);
  const needs = counts.map(([j, m], i) => imageMemory(p, dict.hw, j, m, used[i]));
  checkMemoryBudget(
    ctx,
    Math.max(...needs),
    p.scope === 'batch' ? 'infoNCE (the stacked batch)' : 'infoNCE (one image)',
  );
  const numUsed = used.filter(Boolean).length;
  const images = await Promise.all(
    counts.map(
      ([j], img) =>
        ctx.executor.run((forWorker): InfoNCEJob => {
          const view = dict.features(img);
          return {
            kind: 'infoNCE',
            features: forWorker && !dict.owned ? view.slice() : view,
            offset: dict.offset(img),
            stacked: dict.stacked,
            c,
            hw: dict.hw,
            queries: p.queries[img],
            negatives: p.negatives[img],
            used: used[img],
            temperature: p.temperature,
            positive: POSITIVE[p.positive],
            gradScale: 1 / (j * numUsed),
            grad: p.grad,
            memoryBytes: needs[img],
          };
        }) as Promise<InfoNCEImage>,
    ),
  );
  if (p.scope === 'batch') {
    return { ...splitBatchResult(images[0], p.queries[0], p.negatives[0], b, c, p.hw, p.grad), backend: ctx.backend };
  }
  // Reduced in image order, whatever finished first.
  let loss = 0;
  for (const image of images) if (image.loss !== null) loss += image.loss;
  const result: InfoNCEResult = {
    loss: numUsed > 0 ? loss / numUsed : 0,
    numUsedImages: numUsed,
    usedImages: used,
    queryCounts: counts,
    perImageLoss: images.map((image) => image.loss),
    perQueryLoss: images.map((image) => image.perQuery ?? null),
    backend: ctx.backend,
  };
  if (p.grad) {
    const grad = new Float32Array(b * chw);
    images.forEach((image, img) => {
      if (image.grad) grad.set(image.grad, img * chw);
    });
    result.grad = { features: grad };
  }
  return result;
}
