// The eval command: one loss on .npy inputs, printed as text or JSON, its gradients written as .npy.

import { createEngine } from '../index.js';
import type { CallOptions, Engine, Shape4 } from '../types.js';
import { UsageError } from './errors.js';
import { checkOutputs, writeAll } from './files.js';
import { loadLogitsFor, loadMask, loadNCHW, loadTarget, loadTargetProbs } from './inputs.js';
import { encodeNpy } from './npy.js';
import { choiceFlag, ENGINE_FLAGS, engineFlags, integerFlag, listFlag, numberFlag, parseFlags } from './options.js';
import { ProgressBar } from './progress.js';
import { formatNumber, l2Norm, toJson } from './report.js';
import { EVAL_HELP } from './usage.js';

const LOSSES = ['cross-entropy', 'patch-contrast', 'info-nce', 'cfl-objective'] as const;
type LossName = (typeof LOSSES)[number];

const str = { type: 'string' } as const;
const FLAGS = {
  ...ENGINE_FLAGS,
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'grad-out': str,
  'grad-logits-out': str,
  features: str,
  mask: str,
  logits: str,
  target: str,
  'target-probs': str,
  weight: str,
  'ignore-index': str,
  reduction: str,
  'label-smoothing': str,
  'patch-size': str,
  temperature: str,
  variant: str,
  positive: str,
  scope: str,
  'max-per-class': str,
  seed: str,
  alpha: str,
} as const;
type Values = { [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

const COMMON = ['threads', 'backend', 'help', 'json', 'quiet', 'grad-out'];
// The flags each loss takes besides the common ones: any other is a mistake worth reporting.
const LOSS_FLAGS: Record<LossName, string[]> = {
  'cross-entropy': ['logits', 'target', 'target-probs', 'weight', 'ignore-index', 'reduction', 'label-smoothing'],
  'patch-contrast': ['features', 'mask', 'patch-size', 'temperature', 'variant'],
  'info-nce': ['features', 'mask', 'temperature', 'positive', 'scope', 'max-per-class', 'seed'],
  'cfl-objective': ['logits', 'features', 'mask', 'weight', 'alpha', 'patch-size', 'temperature', 'grad-logits-out'],
};

/** What one loss produced: the result fields to report, extra summary lines and the gradients to write. */
interface Evaluation {
  result: { loss: number | Float32Array; backend: string; grad?: unknown };
  lines: string[];
  /** Milliseconds of the loss call alone (reading the inputs excluded). */
  ms: number;
  grads: { flag: 'grad-out' | 'grad-logits-out'; of: string; values: Float32Array; shape: readonly number[] }[];
}

/** Runs `forgery-losses eval ...` (args after 'eval'); returns the exit code. */
export async function evalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, 'forgery-losses eval --help');
  const v = values as Values;
  if (v.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  const loss = checkLoss(positionals);
  checkApplies(loss, v);
  // An output that is an input (or another output) is refused before any work.
  const targets = await checkOutputs(v);
  const engine = await createEngine(engineFlags(v));
  let writeError: unknown = null;
  try {
    // The bar only on a terminal, and only on stderr: stdout and --json stay the same.
    const bar = process.stderr.isTTY && !v.quiet ? new ProgressBar(process.stderr, loss) : undefined;
    let evaluation: Evaluation;
    try {
      evaluation = await EVALUATE[loss](engine, v, bar ? { onProgress: bar.update } : {});
    } finally {
      bar?.finish();
    }
    // Every gradient asked for, or none (files.ts); a failed write still reports the loss computed.
    const files = evaluation.grads.flatMap((g) => {
      const path = v[g.flag],
        target = targets[g.flag];
      return path === undefined || target === undefined
        ? []
        : [{ flag: g.flag, path, target, bytes: encodeNpy(g.values, g.shape) }];
    });
    await writeAll(files).catch((error: unknown) => {
      writeError = error;
    });
    const gradNorm = Object.fromEntries(evaluation.grads.map((g) => [g.of, l2Norm(g.values)]));
    const { grad: _grad, ...fields } = evaluation.result;
    if (v.json) console.log(toJson({ ...fields, threads: engine.info.threads, gradNorm }));
    else console.log(summary(loss, evaluation, v, engine.info.threads, writeError === null));
  } finally {
    await engine.dispose();
  }
  if (writeError !== null) throw writeError;
  return 0;
}

function checkLoss(positionals: string[]): LossName {
  if (positionals.length === 0)
    throw new UsageError(`eval needs a loss: ${LOSSES.join(', ')} (see forgery-losses eval --help)`);
  if (positionals.length > 1)
    throw new UsageError(`eval takes one loss; got ${positionals.map((p) => `'${p}'`).join(' ')}`);
  const loss = positionals[0];
  if (!LOSSES.includes(loss as LossName))
    throw new UsageError(`unknown loss '${loss}'; expected one of ${LOSSES.join(', ')}`);
  return loss as LossName;
}

function checkApplies(loss: LossName, v: Values): void {
  for (const flag of Object.keys(v)) {
    if (COMMON.includes(flag) || LOSS_FLAGS[loss].includes(flag)) continue;
    const hint = flag === 'variant' && loss === 'info-nce' ? ' (use --positive mean-logit|mean-exp)' : '';
    throw new UsageError(`--${flag} does not apply to ${loss}${hint}`);
  }
}

function required(v: Values, loss: LossName, flag: 'features' | 'mask' | 'logits'): string {
  const path = v[flag];
  if (path === undefined) throw new UsageError(`${loss} needs --${flag} (see forgery-losses eval --help)`);
  return path;
}

async function timed<T>(call: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await call();
  return [result, performance.now() - started];
}

// Each loss reads its flags first, so that a wrong command line is reported before any file is read.
async function loadFeaturesAndMask(v: Values, loss: LossName) {
  const featuresPath = required(v, loss, 'features'),
    maskPath = required(v, loss, 'mask');
  const features = await loadNCHW(featuresPath, 'features');
  const mask = await loadMask(maskPath, features.shape);
  return { features: features.values, shape: features.shape, mask };
}

// `call` carries the progress callback into the loss call.
const EVALUATE: Record<LossName, (engine: Engine, v: Values, call: CallOptions) => Promise<Evaluation>> = {
  async 'cross-entropy'(engine, v, call) {
    const logitsPath = required(v, 'cross-entropy', 'logits');
    if ((v.target === undefined) === (v['target-probs'] === undefined))
      throw new UsageError('cross-entropy needs exactly one of --target or --target-probs');
    const options = {
      weight: listFlag(v.weight, 'weight'),
      ignoreIndex: integerFlag(v['ignore-index'], 'ignore-index'),
      reduction: choiceFlag(v.reduction, 'reduction', ['mean', 'sum', 'none'] as const),
      labelSmoothing: numberFlag(v['label-smoothing'], 'label-smoothing'),
    };
    const { values: logits, shape } = await loadNCHW(logitsPath, 'logits');
    const target = v.target === undefined ? undefined : await loadTarget(v.target, shape);
    const targetProbs = v['target-probs'] === undefined ? undefined : await loadTargetProbs(v['target-probs'], shape);
    const [result, ms] = await timed(() =>
      engine.crossEntropy({ ...options, ...call, logits, shape, target, targetProbs }),
    );
    const lines = [`reduction ${options.reduction ?? 'mean'}`];
    return { result, lines, ms, grads: [{ flag: 'grad-out', of: 'logits', values: result.grad!.logits, shape }] };
  },

  async 'patch-contrast'(engine, v, call) {
    const variant = choiceFlag(v.variant, 'variant', ['exact', 'cflnet'] as const) ?? 'exact';
    const patchSize = integerFlag(v['patch-size'], 'patch-size');
    const temperature = numberFlag(v.temperature, 'temperature');
    const { features, shape, mask } = await loadFeaturesAndMask(v, 'patch-contrast');
    const [result, ms] = await timed(() =>
      engine.patchContrast({ ...call, features, mask, shape, variant, patchSize, temperature }),
    );
    const lines = [
      `variant ${variant}, patch grid ${result.grid.join('x')}`,
      `per-image loss ${Array.from(result.perImageLoss, formatNumber).join(', ')}`,
    ];
    return { result, lines, ms, grads: [{ flag: 'grad-out', of: 'features', values: result.grad!.features, shape }] };
  },

  async 'info-nce'(engine, v, call) {
    const positive = choiceFlag(v.positive, 'positive', ['mean-logit', 'mean-exp'] as const) ?? 'mean-logit';
    const scope = choiceFlag(v.scope, 'scope', ['image', 'batch'] as const) ?? 'image';
    const temperature = numberFlag(v.temperature, 'temperature');
    const maxPerClass = integerFlag(v['max-per-class'], 'max-per-class');
    const seed = integerFlag(v.seed, 'seed');
    if (seed !== undefined && maxPerClass === undefined)
      throw new UsageError('--seed needs --max-per-class (without it every pixel takes part)');
    const sample = maxPerClass === undefined ? undefined : seed === undefined ? { maxPerClass } : { maxPerClass, seed };
    const { features, shape, mask } = await loadFeaturesAndMask(v, 'info-nce');
    const [result, ms] = await timed(() =>
      engine.infoNCE({ ...call, features, mask, shape, positive, sample, temperature, scope }),
    );
    const lines = [
      `positive ${positive}, scope ${scope}, ` +
        `${maxPerClass === undefined ? 'every pixel' : `at most ${maxPerClass} pixels per class (seed ${seed ?? 0})`}`,
      `used images ${result.numUsedImages} of ${shape[0]}; per-image loss ` +
        `${result.perImageLoss.map(formatNumber).join(', ')}`,
    ];
    return { result, lines, ms, grads: [{ flag: 'grad-out', of: 'features', values: result.grad!.features, shape }] };
  },

  async 'cfl-objective'(engine, v, call) {
    const logitsPath = required(v, 'cfl-objective', 'logits');
    const weight = listFlag(v.weight, 'weight');
    if (weight !== undefined && weight.length !== 2)
      throw new UsageError(`--weight for cfl-objective takes two numbers (pristine, forged); got ${weight.length}`);
    const options = {
      weight: weight as [number, number] | undefined,
      alpha: numberFlag(v.alpha, 'alpha'),
      patchSize: integerFlag(v['patch-size'], 'patch-size'),
      temperature: numberFlag(v.temperature, 'temperature'),
    };
    const { features, shape, mask } = await loadFeaturesAndMask(v, 'cfl-objective');
    const logits = await loadLogitsFor(logitsPath, shape, 2);
    const [result, ms] = await timed(() => engine.cflObjective({ ...options, ...call, logits, features, mask, shape }));
    const lines = [`cross-entropy ${formatNumber(result.ceLoss)}, patch contrast ${formatNumber(result.contrastLoss)}`];
    const logitsShape: Shape4 = [shape[0], 2, shape[2], shape[3]];
    return {
      result,
      lines,
      ms,
      grads: [
        { flag: 'grad-out', of: 'features', values: result.grad!.features, shape },
        { flag: 'grad-logits-out', of: 'logits', values: result.grad!.logits, shape: logitsShape },
      ],
    };
  },
};

function summary(loss: LossName, e: Evaluation, v: Values, threads: number, written: boolean): string {
  const value = e.result.loss;
  const head =
    typeof value === 'number'
      ? `${loss}: loss ${formatNumber(value)}`
      : `${loss}: ${value.length} per-pixel losses, sum ${formatNumber(value.reduce((s, x) => s + x, 0))}`;
  const lines = [
    head,
    ...e.lines,
    `backend ${e.result.backend}, ${threads} thread${threads === 1 ? '' : 's'}, ${e.ms.toFixed(1)} ms`,
  ];
  for (const g of e.grads) {
    const path = v[g.flag];
    const where = path === undefined ? '' : written ? `, written to ${path}` : ', not written';
    lines.push(`gradient w.r.t. ${g.of}: L2 norm ${formatNumber(l2Norm(g.values))}${where}`);
  }
  return lines.join('\n  ');
}
