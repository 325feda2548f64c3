// The demo command (what `npm start` runs): every loss and variant on the bundled sample, one table row each.

// biome-ignore lint/correctness/useImportExtensions: it is the .mjs file (support/sample.d.mts types it)
import { makeSample } from '../../support/sample.mjs';
import { createEngine } from '../index.js';
import type { Engine, EngineInfo, Shape4 } from '../types.js';
import { UsageError } from './errors.js';
import { ENGINE_FLAGS, engineFlags, parseFlags } from './options.js';
import { formatNumber, formatTable, l2Norm } from './report.js';
import { DEMO_HELP } from './usage.js';

// The sample is made at run time by its deterministic generator (support/sample.mjs, bundled into
// dist/cli.js): the package ships no data, and every run gets the bytes of sample/*.npy.

interface Sample {
  features: Float32Array;
  logits: Float32Array;
  mask: Float32Array;
  shape: Shape4;
}

interface Run {
  loss: string;
  variant: string;
  call: (engine: Engine, s: Sample) => Promise<{ loss: number | Float32Array; backend: string; grads: Float32Array[] }>;
}

const CFL_WEIGHT = [0.0892, 0.9108] as const;

const RUNS: Run[] = [
  {
    loss: 'crossEntropy',
    variant: 'mask target, CFL weights',
    call: async (e, s) => {
      // The mask holds exactly 0 and 1 (support/sample.mjs): it is the class-index target.
      const r = await e.crossEntropy({
        logits: s.logits,
        shape: [s.shape[0], 2, s.shape[2], s.shape[3]],
        target: Int32Array.from(s.mask),
        weight: CFL_WEIGHT,
      });
      return { ...r, grads: [r.grad!.logits] };
    },
  },
  ...(['exact', 'cflnet'] as const).map(
    (variant): Run => ({
      loss: 'patchContrast',
      variant,
      call: async (e, s) => {
        const r = await e.patchContrast({ features: s.features, mask: s.mask, shape: s.shape, variant });
        return { ...r, grads: [r.grad!.features] };
      },
    }),
  ),
  ...(['mean-logit', 'mean-exp'] as const).flatMap((positive) =>
    [undefined, 256].map(
      (maxPerClass): Run => ({
        loss: 'infoNCE',
        variant: `${positive}, ${maxPerClass === undefined ? 'full dictionary' : `maxPerClass ${maxPerClass}`}`,
        call: async (e, s) => {
          const sample = maxPerClass === undefined ? undefined : { maxPerClass, seed: 0 };
          const r = await e.infoNCE({ features: s.features, mask: s.mask, shape: s.shape, positive, sample });
          return { ...r, grads: [r.grad!.features] };
        },
      }),
    ),
  ),
  {
    loss: 'cflObjective',
    variant: 'CE + patchContrast cflnet',
    call: async (e, s) => {
      const r = await e.cflObjective({ logits: s.logits, features: s.features, mask: s.mask, shape: s.shape });
      return { ...r, grads: [r.grad!.logits, r.grad!.features] };
    },
  },
];

async function loadSample(): Promise<Sample> {
  const { features, logits, mask, shape } = makeSample();
  return { features, logits, mask, shape };
}

function describeEngine(info: EngineInfo): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const f = info.features;
  const notes = info.notes.length === 0 ? '' : `; ${info.notes.join('; ')}`;
  const features = [
    `simd ${yes(f.simd)}`,
    `relaxed-simd ${yes(f.relaxedSimd)}`,
    `workers ${yes(f.workers)}`,
    `cross-origin-isolated ${yes(f.crossOriginIsolated)}`,
    `webgpu ${yes(f.webgpu)}`,
  ];
  return `engine: backend ${info.backend}, threads ${info.threads}, features ${features.join(', ')}${notes}`;
}

/** Runs `forgery-losses demo` (args after 'demo'); returns the exit code. */
export async function demoCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, ENGINE_FLAGS, 'forgery-losses demo --help');
  if (values.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`demo takes no arguments; got '${positionals[0]}'`);
  const sample = await loadSample();
  const engine = await createEngine(engineFlags(values));
  try {
    console.log(describeEngine(engine.info));
    console.log(
      `sample: features (${sample.shape.join(', ')}), logits and mask of ${sample.shape[0]} images of ` +
        `${sample.shape[2]}x${sample.shape[3]}\n`,
    );
    const rows: string[][] = [];
    for (const run of RUNS) {
      const started = performance.now();
      const r = await run.call(engine, sample);
      const ms = performance.now() - started;
      rows.push([
        run.loss,
        run.variant,
        formatNumber(r.loss as number),
        formatNumber(l2Norm(...r.grads)),
        ms.toFixed(1),
        r.backend,
        String(engine.info.threads),
      ]);
    }
    console.log(formatTable(['loss', 'variant', 'value', 'grad L2', 'time (ms)', 'backend', 'threads'], rows));
  } finally {
    await engine.dispose();
  }
  return 0;
}
