// infoNCE: FOCAL's per-image InfoNCE++ (docs/spec.md §5). The TypeScript side builds the query and
// negative index lists (all pixels, a seeded sample, or explicit lists); the kernel does the rest.

import { POSITIVE_MEAN_EXP, POSITIVE_MEAN_LOGIT } from '../codes.js';
import { drawSample, imageGenerator } from '../sampler.js';
import type { InfoNCEResult, Mask } from '../types.js';
import { CALL_OPTIONS, checkChoice, checkFeatureInputs, checkMask, checkOptions, checkShape } from '../validate.js';
import { ARENA_SLACK, checkMemoryBudget, type LossContext, type MemoryNeed } from '../runtime/context.js';
import { joinImages } from '../runtime/schedule/join.js';
import { type InfoNCEImage, type InfoNCEJob, partsPerImage } from '../runtime/schedule/jobs.js';
import type { Kernels } from '../runtime/wasm/kernels.js';
import { channelChunk } from '../runtime/wasm/layout.js';
import { splitBatchResult, stackImages, stackSets } from './batchScope.js';
import type { PrepareEnv } from './env.js';

const POSITIVE = { 'mean-logit': POSITIVE_MEAN_LOGIT, 'mean-exp': POSITIVE_MEAN_EXP } as const;

export const INFO_NCE_OPTIONS = [
  'features',
  'mask',
  'shape',
  'temperature',
  'positive',
  'sample',
  'scope',
  ...CALL_OPTIONS,
] as const;

/** A validated call with its own copies of the inputs, taken when the call was made. */
export interface PreparedInfoNCE {
  b: number;
  c: number;
  /** Pixels of one input image. */
  hw: number;
  temperature: number;
  positive: 'mean-logit' | 'mean-exp';
  scope: 'image' | 'batch';
  /** The dictionaries: one per image, or one for the stacked batch (scope 'batch'). */
  dictionaries: {
    features: Float32Array;
    /** Query (pristine) and negative (forged) pixel indices, as built. */
    queries: Int32Array;
    negatives: Int32Array;
  }[];
  grad: boolean;
  gradInto?: Float32Array;
}

export function prepareInfoNCE(options: unknown, env: PrepareEnv): PreparedInfoNCE {
  const o = checkOptions(options, 'infoNCE', INFO_NCE_OPTIONS);
  const { b, c, h, w, features, mask, temperature, grad, gradInto } = checkFeatureInputs(o);
  const hw = h * w,
    chw = c * hw;
  const positive = checkChoice(o.positive, 'positive', ['mean-logit', 'mean-exp'] as const, 'mean-logit');
  const scope = checkChoice(o.scope, 'scope', ['image', 'batch'] as const, 'image');
  // The copies: per image, taken by the finite check, or the stacked image, which is a copy already
  // (in shared memory where workers answer a sync call).
  const images = scope === 'batch' ? 1 : b;
  const copies = scope === 'batch' ? undefined : Array.from({ length: b }, () => env.copies.take(chw, env.share(b)));
  env.finite(features, 'features', copies);
  const { queries, negatives } =
    scope === 'batch' ? stackSets(mask, b, hw, o.sample, buildSets) : buildSets(mask, b, hw, o.sample);
  const stacked = copies ?? [stackImages(features, b, c, hw, env.copies.take(features.length, env.share(images)))];
  return {
    b,
    c,
    hw,
    temperature,
    positive,
    scope,
    dictionaries: stacked.map((f, i) => ({ features: f, queries: queries[i], negatives: negatives[i] })),
    grad,
    gradInto,
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
  checkOptions(s, 'sample', seeded ? ['maxPerClass', 'seed'] : ['pristine', 'forged']);
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
  // The message is built only for a bad index: a call checks thousands of good ones.
  const where = (i: number) => `sample.${field}[${b}][${i}] = ${list[i]}`;
  for (let i = 0; i < list.length; i++) {
    const k = list[i];
    if (!Number.isInteger(k) || k < 0 || k >= hw)
      throw new RangeError(`${where(i)}: pixel indices must be integers in [0, ${hw})`);
    if (seen[k]) throw new RangeError(`${where(i)}: repeated index`);
    if (mask[b * hw + k] !== cls)
      throw new RangeError(
        `${where(i)}: the mask there is ${mask[b * hw + k]}, not ${cls} (${field} pixels must have mask ${cls})`,
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
  const o = checkOptions(options, 'drawInfoNCESample', ['mask', 'shape', 'maxPerClass', 'seed', 'scope']);
  const [b, , h, w] = checkShape(o.shape);
  const mask = checkMask(o.mask, 'mask', b * h * w);
  const scope = checkChoice(o.scope, 'scope', ['image', 'batch'] as const, 'image');
  // Scope 'batch' draws from the stacked image (one list of stacked indices b·H·W + k).
  const [images, hw] = scope === 'batch' ? [1, b * h * w] : [b, h * w];
  const { queries, negatives } = buildSets(mask, images, hw, { maxPerClass: o.maxPerClass, seed: o.seed });
  return { pristine: queries, forged: negatives };
}

/**
 * Wasm memory of one image of C channels and `hw` pixels with j queries and m negatives: the
 * wrapper's buffers (runtime/tasks.ts: the chunk of channels that passes through the arena, the
 * index lists and the per-query outputs, 8 bytes per query) and the kernel's own
 * (infoNCEKernelBytes, assembly/info_nce.ts). A skipped image runs no task.
 */
function imageMemory(k: Kernels, p: PreparedInfoNCE, hw: number, j: number, m: number, used: boolean): MemoryNeed {
  if (!used) return ARENA_SLACK;
  const chunk = channelChunk(p.c, hw) * hw * 4;
  const kernel = k.infoNCEKernelBytes(j, m, p.c, POSITIVE[p.positive]);
  return chunk + 12 * j + 4 * m + kernel + ARENA_SLACK;
}

/** One job per dictionary, their memory checked. */
export function infoNCEJobs(ctx: LossContext, p: PreparedInfoNCE): InfoNCEJob[] {
  const hw = p.scope === 'batch' ? p.b * p.hw : p.hw;
  const counts = p.dictionaries.map((d): [number, number] => [d.queries.length, d.negatives.length]);
  const used = counts.map(([j, m]) => j >= 2 && m >= 1);
  const needs = counts.map(([j, m], i) => imageMemory(ctx.kernels, p, hw, j, m, used[i]));
  checkMemoryBudget(
    ctx,
    Math.max(...needs),
    p.scope === 'batch' ? 'infoNCE (the stacked batch)' : 'infoNCE (one image)',
  );
  const numUsed = used.filter(Boolean).length;
  return p.dictionaries.map((d, img) => ({
    kind: 'infoNCE',
    features: d.features,
    c: p.c,
    hw,
    queries: d.queries,
    negatives: d.negatives,
    used: used[img],
    temperature: p.temperature,
    positive: POSITIVE[p.positive],
    gradScale: 1 / (counts[img][0] * numUsed),
    grad: p.grad,
    maxParts: partsPerImage(p.dictionaries.length),
    partWork: ctx.partWork,
    maxSlotFloats: ctx.maxSlotFloats,
    memoryBytes: needs[img],
  }));
}

/** The call's result from its images, reduced in image order, whatever finished first. */
export function reduceInfoNCE(
  ctx: LossContext,
  p: PreparedInfoNCE,
  jobs: InfoNCEJob[],
  images: InfoNCEImage[],
): InfoNCEResult {
  const { b, c } = p;
  if (p.scope === 'batch') {
    const d = p.dictionaries[0];
    const split = splitBatchResult(
      images[0],
      d.queries,
      d.negatives,
      { b, c, hw: p.hw },
      p.grad,
      ctx.copies,
      p.gradInto,
    );
    return { ...split, backend: ctx.backend };
  }
  const used = jobs.map((job) => job.used);
  const numUsed = used.filter(Boolean).length;
  let loss = 0;
  for (const image of images) if (image.loss !== null) loss += image.loss;
  const result: InfoNCEResult = {
    loss: numUsed > 0 ? loss / numUsed : 0,
    numUsedImages: numUsed,
    usedImages: used,
    queryCounts: jobs.map((job): [number, number] => [job.queries.length, job.negatives.length]),
    perImageLoss: images.map((image) => image.loss),
    perQueryLoss: images.map((image) => image.perQuery ?? null),
    backend: ctx.backend,
  };
  if (p.grad) result.grad = { features: joinImages(images, c * p.hw, ctx.copies, p.gradInto) };
  return result;
}
