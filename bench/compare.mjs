// The comparison (npm run bench:compare): every case of DESIGN.md section 4, value + gradient,
// this package (wasm SIMD and relaxed SIMD, threads 1 and 2), TF.js-wasm composing the same losses
// and — when Debian's python3-torch is installed — PyTorch on the CPU, all in one run on the same
// generated inputs. Prints one table (times, ratios, losses side by side) and the package's
// GFLOP/s per phase; --markdown FILE also writes them as Markdown (the README's table).
//   node bench/compare.mjs [--case ce,pc,nce,nce-full] [--runs N] [--no-tfjs] [--no-torch] [--small] [--markdown FILE]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeCase, writeCaseBinaries } from './cases.mjs';

const { values: args } = parseArgs({
  options: {
    case: { type: 'string', default: 'ce,pc,nce,nce-full' },
    runs: { type: 'string', default: '5' },
    'no-tfjs': { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    small: { type: 'boolean', default: false },
    markdown: { type: 'string' },
  },
});
const here = (file) => new URL(file, import.meta.url).pathname;
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
const PYTHON = '/usr/bin/python3';
const small = args.small ? ['--small'] : [];
const VARIANTS = { ce: ['mean'], pc: ['exact', 'cflnet'], nce: ['mean-logit'], 'nce-full': ['mean-logit', 'mean-exp'] };
// PyTorch and TF.js take seconds to minutes on pc; fewer runs keep the whole comparison short.
const slowRuns = (name) => (name === 'pc' ? 1 : 3);

function json(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 900_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed:\n${r.stderr.slice(-2000)}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

const relaxedWorks = spawnSync(process.execPath, [RELAXED_FLAG, '-e', '0']).status === 0;
const torchVersion =
  args['no-torch'] || !existsSync(PYTHON)
    ? null
    : spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout?.trim() || null;

const rows = [];
for (const name of args.case.split(',')) {
  const c = makeCase(name, { small: args.small });
  const label = `${name} (${c.shape.join('×')})`;
  for (const variant of VARIANTS[name]) {
    const runs = name === 'pc' || variant === 'mean-exp' ? Math.min(3, Number(args.runs)) : Number(args.runs);
    const builds = [['simd', []], ...(relaxedWorks ? [['relaxed-simd', [RELAXED_FLAG]]] : [])];
    for (const [build, flags] of builds) {
      for (const threads of [1, 2]) {
        const [r] = json(process.execPath, [
          ...flags,
          here('run-package.mjs'),
          name,
          variant,
          build,
          String(threads),
          String(runs),
          ...small,
        ]);
        // The label says what ran: an engine that could not start its workers reports 1 thread.
        rows.push({
          label,
          variant,
          impl: `forgery-losses ${r.build}, ${r.threads} thread${r.threads > 1 ? 's' : ''}`,
          ours: true,
          ms: r.median_ms,
          loss: r.loss,
        });
        console.error(
          `${name} ${variant} ${r.build} threads ${r.threads} (asked ${threads}): ${r.median_ms.toFixed(2)} ms`,
        );
      }
    }
    if (!args['no-tfjs']) {
      const [r] = json(process.execPath, [here('run-tfjs.mjs'), name, variant, String(slowRuns(name)), ...small]);
      rows.push({ label, variant, impl: `TF.js ${r.version} wasm`, tfjs: true, ms: r.median_ms, loss: r.loss });
      console.error(`${name} ${variant} tfjs: ${r.median_ms.toFixed(1)} ms`);
    }
  }
  if (torchVersion) {
    const dir = mkdtempSync(join(tmpdir(), `fl-bench-${name}-`));
    writeCaseBinaries(c, dir);
    for (const r of json(PYTHON, [
      here('torch_losses.py'),
      dir,
      '--runs',
      String(slowRuns(name) + 2),
      '--threads',
      '2',
    ])) {
      rows.push({
        label,
        variant: r.variant,
        impl: `PyTorch ${r.torch_version} CPU, 2 threads`,
        torch: true,
        ms: r.median_ms,
        loss: r.loss,
      });
      console.error(`${name} ${r.variant} torch: ${r.median_ms.toFixed(1)} ms`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// Per-phase GFLOP/s of the kernels at the pc and nce-full sizes (one thread).
const phases = [];
for (const [what, dims] of [
  ['pc: 3136 × 3136 × 256', ['3136', '3136', '256']],
  ['nce-full: 2800 × 1300 × 256', ['2800', '1300', '256']],
]) {
  for (const [build, flags] of [['simd', []], ...(relaxedWorks ? [['relaxed', [RELAXED_FLAG]]] : [])]) {
    const [p] = json(process.execPath, [...flags, here('phases.mjs'), ...dims, build]);
    phases.push({ what, build, ...p });
  }
}

// The table: per case and variant, ratios against PyTorch and TF.js, the fastest in bold.
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);
const lines = [
  '| case | variant | implementation | time | vs PyTorch | vs TF.js | loss |',
  '|---|---|---|---|---|---|---|',
];
const groups = [...new Set(rows.map((r) => `${r.label}|${r.variant}`))];
let disagreements = 0;
for (const g of groups) {
  const group = rows.filter((r) => `${r.label}|${r.variant}` === g);
  const best = Math.min(...group.map((r) => r.ms));
  const torch = group.find((r) => r.torch),
    tfjs = group.find((r) => r.tfjs);
  const ref = group[0].loss;
  for (const r of group) {
    const agree = Math.abs(r.loss - ref) <= 1e-4 * Math.max(1, Math.abs(ref));
    if (!agree) disagreements++;
    const bold = (s) => (r.ms === best ? `**${s}**` : s);
    lines.push(
      `| ${r.label} | ${r.variant} | ${bold(r.impl)} | ${bold(fmt(r.ms))} | ${torch ? `${(r.ms / torch.ms).toFixed(2)}×` : '–'} | ${tfjs ? `${(r.ms / tfjs.ms).toFixed(3)}×` : '–'} | ${r.loss.toFixed(6)}${agree ? '' : ' (differs)'} |`,
    );
  }
}
const phaseLines = [
  '| size (rows × cols × C) | build | similarity S = A·Bᵀ | G·B | Gᵀ·A |',
  '|---|---|---|---|---|',
  ...phases.map(
    (p) => `| ${p.what} | ${p.build} | ${p.similarity} GFLOP/s | ${p.weighted} GFLOP/s | ${p.transposed} GFLOP/s |`,
  ),
];
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores; Node ${process.version}`;
const out = [
  `Machine: ${machine}. Value + gradient per batch, median of the runs; ratios below 1 mean this package is faster.`,
  '',
  ...lines,
  '',
  'Kernel phases, one thread:',
  '',
  ...phaseLines,
  '',
  `Losses agree within 1e-4 relative: ${disagreements === 0 ? 'yes' : `no (${disagreements} rows differ)`}.`,
  torchVersion ? '' : 'PyTorch rows: not run (install with `apt-get install python3-torch libopenblas0-pthread`).',
].join('\n');
console.log(out);
if (args.markdown) writeFileSync(args.markdown, `${out}\n`);
if (disagreements > 0) process.exitCode = 1;
