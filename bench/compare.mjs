// The comparison (npm run bench:compare): every case of docs/benchmarks.md, value + gradient,
// this package (wasm SIMD and relaxed SIMD, threads 1 and 2, under every Node given), TF.js-wasm
// composing the same losses and — when Debian's python3-torch is installed — PyTorch on the CPU,
// all in one run on the same generated inputs. Prints one table (times, efficiency, ratios, losses
// side by side), the 2-thread speed-ups and the package's GFLOP/s per phase; --markdown FILE also
// writes them as Markdown (bench/RESULTS.md).
//   node bench/compare.mjs [--case ce,pc,pc1,nce,nce-full] [--runs N] [--node PATH]... [--no-tfjs] [--no-torch]
//                          [--small] [--markdown FILE]
// --node (repeatable; default: the Node running this script) runs the package rows under each Node
// binary given; TF.js and PyTorch run once, TF.js under the Node running this script.
// The package is run from a copy of dist/ taken at the start ($FL_BENCH_DIST), so that a rebuild
// during the run (others share the working tree) changes no row.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { json, jsonPair } from './processes.mjs';

const { values: args } = parseArgs({
  options: {
    case: { type: 'string', default: 'ce,pc,pc1,nce,nce-full' },
    runs: { type: 'string', default: '5' },
    node: { type: 'string', multiple: true },
    'no-tfjs': { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    small: { type: 'boolean', default: false },
    markdown: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(`Usage: node bench/compare.mjs [options]
  --case LIST     cases to run, of ce,pc,pc1,nce,nce-full (default: all)
  --runs N        timed runs of the package (default 5; at most 3 for pc and mean-exp)
  --node PATH     run the package rows under this Node binary; repeatable (default: this Node)
  --no-tfjs       leave out TF.js;  --no-torch  leave out PyTorch
  --small         small inputs of the same structure (a quick run)
  --markdown FILE also write the tables as Markdown`);
  process.exit(0);
}
const here = (file) => new URL(file, import.meta.url).pathname;
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
const PYTHON = '/usr/bin/python3';
const small = args.small ? ['--small'] : [];
const VARIANTS = {
  ce: ['mean'],
  pc: ['exact', 'cflnet'],
  pc1: ['exact', 'cflnet'],
  nce: ['mean-logit'],
  'nce-full': ['mean-logit', 'mean-exp'],
};
// PyTorch and TF.js take seconds to minutes on pc (TF.js ~30 s a call) and pc1; fewer runs keep
// the whole comparison short.
const slowRuns = (name) => (name === 'pc' || name === 'pc1' ? 1 : 3);
// Millisecond calls (ce) are timed warm on both sides: PyTorch's first ~35 calls that return a
// fresh gradient take about twice as long (docs/benchmarks.md), so 40 untimed calls, then 31 runs.
const MS_CASES = new Set(['ce']);
const WARM_CALLS = 40;
const WARM_RUNS = 31;

const distSnapshot = mkdtempSync(join(tmpdir(), 'fl-bench-dist-'));
const distBuilt = statSync(here('../dist/index.js')).mtime;
cpSync(here('../dist'), join(distSnapshot, 'dist'), { recursive: true });
// The test entry too (bench/timeline.mjs): beside the copy, it runs the copy's dist/worker.js.
cpSync(here('../build/testing.js'), join(distSnapshot, 'build', 'testing.js'));
// The kernels' test builds (bench/phases.mjs, bench/passes.mjs: the exports only benchmarks call).
for (const file of ['kernels.testing.wasm', 'kernels.testing-relaxed.wasm'])
  cpSync(here(`../build/${file}`), join(distSnapshot, 'build', file));
process.env.FL_BENCH_DIST = join(distSnapshot, 'dist'); // read by every child and by support/cases.mjs
process.on('exit', () => rmSync(distSnapshot, { recursive: true, force: true }));
const { makeCase, writeCaseBinaries } = await import('../support/cases.mjs');
// The patch label rule and row map, as the package's planner counts pristine patches (built with the package).
const { patchLabels, rowMap } = await import('../build/testing.js');
const countPristine = (mask, h, w, p) => rowMap(patchLabels(mask, h, w, p), 8).pristine;
const loadStart = loadavg()[0];

// ---------------------------------------------------------------------------
// The Nodes: version, and the flags (if any) under which it validates the relaxed-SIMD build.
// Node 20 needs --experimental-wasm-relaxed-simd; Node 22 and 24 run it by default and reject the flag.

const RELAXED_WASM = join(process.env.FL_BENCH_DIST, 'kernels.relaxed.wasm');
const VALIDATES = `process.stdout.write(String(WebAssembly.validate(require('node:fs').readFileSync(${JSON.stringify(RELAXED_WASM)}))))`;

function probeNode(path) {
  const version = spawnSync(path, ['-p', 'process.version'], { encoding: 'utf8' });
  if (version.status !== 0)
    throw new Error(`--node ${path}: cannot run it (${version.error?.message ?? version.stderr})`);
  const relaxedWith = (flags) => spawnSync(path, [...flags, '-e', VALIDATES], { encoding: 'utf8' }).stdout === 'true';
  const relaxedFlags = relaxedWith([]) ? [] : relaxedWith([RELAXED_FLAG]) ? [RELAXED_FLAG] : null;
  const builds = [
    { build: 'simd', phases: 'simd', flags: [] },
    ...(relaxedFlags ? [{ build: 'relaxed-simd', phases: 'relaxed', flags: relaxedFlags }] : []),
  ];
  return { path, version: version.stdout.trim(), builds };
}

const nodes = (args.node ?? [process.execPath]).map(probeNode);
const torchVersion =
  args['no-torch'] || !existsSync(PYTHON)
    ? null
    : spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).stdout?.trim() || null;

// ---------------------------------------------------------------------------
// Per-phase GFLOP/s of the kernels at the pc and nce-full sizes (one thread), per Node and build.
// The single-core peak of a Node and build is the best of these (every phase, both sizes).

const PHASE_SIZES = [
  ['pc: 3136 × 3136 × 256', ['3136', '3136', '256']],
  ['nce-full: 2800 × 1300 × 256', ['2800', '1300', '256']],
];
const phases = [];
const peakGflops = new Map(); // `${node.version} ${build}` -> GFLOP/s
for (const node of nodes) {
  for (const { build, phases: kernels, flags } of node.builds) {
    for (const [what, dims] of PHASE_SIZES) {
      const [p] = json(node.path, [...flags, here('phases.mjs'), ...dims, kernels]);
      phases.push({ what, node: node.version, ...p });
      const key = `${node.version} ${build}`;
      peakGflops.set(key, Math.max(peakGflops.get(key) ?? 0, p.similarity, p.weighted, p.transposed));
    }
    console.error(`phases ${node.version} ${build}: peak ${peakGflops.get(`${node.version} ${build}`)} GFLOP/s`);
  }
}

// ---------------------------------------------------------------------------
// Where one image's time goes, pass by pass (bench/passes.mjs), per Node and build, against the
// pass's own GEMMs alone. And what two cores give this machine at all: the similarity phase alone, then two
// copies at once in two processes (their throughput over one copy's; 2 would be perfect scaling).

const PASS_CASES = [
  ['pc1', 'exact'],
  ['pc1', 'cflnet'],
  ['nce-full', 'mean-logit'],
  ['nce-full', 'mean-exp'],
];
const passes = [];
for (const node of nodes) {
  for (const { phases: kernels, flags } of node.builds) {
    for (const [name, variant] of PASS_CASES) {
      if (!args.case.split(',').includes(name)) continue;
      for (const p of json(node.path, [...flags, here('passes.mjs'), name, variant, kernels, ...small]))
        passes.push({ node: node.version, ...p });
    }
  }
}

// Where a 2-thread call's time goes (bench/timeline.mjs: its tasks as the workers run them), per
// Node and build.
const TIMELINE_CASES = [
  ['pc1', 'exact'],
  ['pc1', 'cflnet'],
  ['nce', 'mean-logit'],
  ['nce-full', 'mean-logit'],
  ['nce-full', 'mean-exp'],
];
const timelines = [];
for (const node of nodes) {
  for (const { build, flags } of node.builds) {
    for (const [name, variant] of TIMELINE_CASES) {
      if (!args.case.split(',').includes(name)) continue;
      const [t] = json(node.path, [...flags, here('timeline.mjs'), name, variant, build, '2', ...small]);
      timelines.push({ node: node.version, ...t });
    }
  }
}

function phaseRun(node, flags, kernels) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [...flags, here('phases.mjs'), ...PHASE_SIZES[0][1], kernels], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`phases.mjs: exit ${code}`)),
    );
  });
}
const first = nodes[0];
// Best of three of each, alternated (the machine is shared: one slow run says little).
let alone = 0,
  together = 0;
for (let round = 0; round < 3; round++) {
  alone = Math.max(alone, (await phaseRun(first.path, [], 'simd')).similarity);
  const pair = await Promise.all([phaseRun(first.path, [], 'simd'), phaseRun(first.path, [], 'simd')]);
  together = Math.max(together, pair[0].similarity + pair[1].similarity);
}
const twoCoreScaling = together / alone;
console.error(`two cores: ${twoCoreScaling.toFixed(2)}× one core's similarity throughput`);

// ---------------------------------------------------------------------------
// Minimal GEMM work of a call, in multiply-adds (docs/benchmarks.md, "Targets"): per image with P
// pristine and F forged patches, patch contrast 4·P·F·C + 1.5·(P² + F²)·C (exact; at most 1.75·N²·C)
// and + ½·N²·C for cflnet's column maxima; InfoNCE 3·J·M·C (mean-logit), + 2·J²·C for mean-exp.
// Null for cross-entropy (no GEMM).

function minimalWork(c, variant) {
  const [B, C, H, W] = c.shape;
  if (c.loss === 'patch_contrast') {
    const N = (H / c.patchSize) * (W / c.patchSize);
    let work = 0;
    for (let b = 0; b < B; b++) {
      const P = countPristine(c.mask.subarray(b * H * W, (b + 1) * H * W), H, W, c.patchSize),
        F = N - P;
      work += (4 * P * F + 1.5 * (P * P + F * F) + (variant === 'cflnet' ? 0.5 * N * N : 0)) * C;
    }
    return work;
  }
  if (c.loss !== 'info_nce') return null;
  let work = 0;
  for (let b = 0; b < B; b++) {
    let J = 0,
      M = 0;
    if (c.sample) {
      J = c.sample.pristine[b].length;
      M = c.sample.forged[b].length;
    } else {
      const m = c.mask.subarray(b * H * W, (b + 1) * H * W);
      for (const v of m) {
        if (v === 0) J++;
        else if (v === 1) M++;
      }
    }
    if (J < 2 || M < 1) continue; // an unused image: no work
    work += 3 * J * M * C + (variant === 'mean-exp' ? 2 * J * J * C : 0);
  }
  return work;
}

// ---------------------------------------------------------------------------
// The runs.

const rows = [];
/** `${label}|${variant}|${node} ${build}` → two processes' throughput over one process's, for that call. */
const twoProcess = new Map();
for (const name of args.case.split(',')) {
  const c = makeCase(name, { small: args.small });
  const label = `${name} (${c.shape.join('×')})`;
  for (const variant of VARIANTS[name]) {
    const runs = name === 'pc' || variant === 'mean-exp' ? Math.min(3, Number(args.runs)) : Number(args.runs);
    const work = minimalWork(c, variant);
    // The async calls under every Node; the sync methods (docs/api.md) under the first.
    const configs = nodes.flatMap((node, i) =>
      node.builds.flatMap((b) => (i === 0 ? [false, true] : [false]).map((sync) => ({ node, ...b, sync }))),
    );
    for (const { node, build, flags, sync } of configs) {
      for (const threads of [1, 2]) {
        const [r] = json(node.path, [
          ...flags,
          here('run-package.mjs'),
          name,
          variant,
          build,
          String(threads),
          String(runs),
          ...small,
          ...(sync ? ['--sync'] : []),
        ]);
        // The label says what ran: an engine that could not start its workers reports 1 thread.
        const peak = peakGflops.get(`${node.version} ${build}`);
        const efficiency = work && peak ? work / ((r.median_ms / 1e3) * ((peak * 1e9) / 2) * r.threads) : null;
        rows.push({
          label,
          variant,
          impl: `forgery-losses ${r.build}${sync ? ' sync' : ''}, ${r.threads} thread${r.threads > 1 ? 's' : ''}, Node ${node.version}`,
          ours: true,
          node: node.version,
          build: r.build + (sync ? ' sync' : ''),
          threads: r.threads,
          ms: r.median_ms,
          efficiency,
          loss: r.loss,
        });
        console.error(
          `${name} ${variant} ${node.version} ${r.build} threads ${r.threads} (asked ${threads}): ${r.median_ms.toFixed(2)} ms` +
            (efficiency === null ? '' : `, efficiency ${efficiency.toFixed(2)}`),
        );
      }
    }
    // What two cores give this call: two processes each running it on 1 thread at once, against
    // one alone (the one-thread rows above, same Node and build): 2 would be perfect scaling.
    for (const { build, flags } of nodes[0].builds) {
      const argv = [...flags, here('run-package.mjs'), name, variant, build, '1', String(runs), ...small];
      const wasm = build === 'simd' ? 'wasm-simd' : 'wasm-relaxed-simd';
      const alone = rows.find(
        (r) =>
          r.label === label &&
          r.variant === variant &&
          r.node === nodes[0].version &&
          r.build === wasm &&
          r.threads === 1,
      );
      const pair = await jsonPair(nodes[0].path, argv);
      const together = (pair[0].median_ms + pair[1].median_ms) / 2;
      if (alone) twoProcess.set(`${label}|${variant}|${nodes[0].version} ${alone.build}`, (2 * alone.ms) / together);
    }
    if (!args['no-tfjs']) {
      const [r] = json(process.execPath, [here('run-tfjs.mjs'), name, variant, String(slowRuns(name)), ...small]);
      rows.push({
        label,
        variant,
        impl: `TF.js ${r.version} wasm, Node ${process.version}`,
        tfjs: true,
        ms: r.median_ms,
        loss: r.loss,
      });
      console.error(`${name} ${variant} tfjs: ${r.median_ms.toFixed(1)} ms`);
    }
  }
  if (torchVersion) {
    const dir = mkdtempSync(join(tmpdir(), `fl-bench-${name}-`));
    writeCaseBinaries(c, dir);
    for (const r of json(PYTHON, [
      here('baselines/torch_losses.py'),
      dir,
      ...(MS_CASES.has(name)
        ? ['--warmup', String(WARM_CALLS), '--runs', String(WARM_RUNS)]
        : ['--runs', String(slowRuns(name) + 2)]),
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

// ---------------------------------------------------------------------------
// The tables: per case and variant, efficiency, ratios against PyTorch and TF.js, the fastest in bold.

const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 1)} ms`);
const lines = [
  '| case | variant | implementation | time | efficiency | vs PyTorch | vs TF.js | loss |',
  '|---|---|---|---|---|---|---|---|',
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
    const efficiency = r.efficiency == null ? '–' : r.efficiency.toFixed(2);
    lines.push(
      `| ${r.label} | ${r.variant} | ${bold(r.impl)} | ${bold(fmt(r.ms))} | ${efficiency} | ${torch ? `${(r.ms / torch.ms).toFixed(2)}×` : '–'} | ${tfjs ? `${(r.ms / tfjs.ms).toFixed(3)}×` : '–'} | ${r.loss.toFixed(6)}${agree ? '' : ' (differs)'} |`,
    );
  }
}

// 2-thread speed-up: time at 1 thread ÷ time at 2 threads, per Node and build; in parentheses, as a
// fraction of what two cores give that call (two processes at once, measured in this run).
const configs = [...new Set(rows.filter((r) => r.ours).map((r) => `Node ${r.node} ${r.build}`))];
const speedupLines = [
  `| case | variant | ${configs.join(' | ')} |`,
  `|---|---|${configs.map(() => '---').join('|')}|`,
  ...groups.map((g) => {
    const group = rows.filter((r) => r.ours && `${r.label}|${r.variant}` === g);
    const cells = configs.map((cfg) => {
      const of = (t) => group.find((r) => `Node ${r.node} ${r.build}` === cfg && r.threads === t);
      const [one, two] = [of(1), of(2)];
      if (!one || !two) return '–';
      const gain = twoProcess.get(`${g}|${cfg.replace(/^Node /, '').replace(/ sync$/, '')}`);
      const speedup = one.ms / two.ms;
      return `${speedup.toFixed(2)}×${gain ? ` (${(speedup / gain).toFixed(2)} of ${gain.toFixed(2)}×)` : ''}`;
    });
    const [label, variant] = g.split('|');
    return `| ${label} | ${variant} | ${cells.join(' | ')} |`;
  }),
];

const phaseLines = [
  '| size (rows × cols × C) | Node | build | similarity S = A·Bᵀ | G·B | Gᵀ·A |',
  '|---|---|---|---|---|---|',
  ...phases.map(
    (p) =>
      `| ${p.what} | ${p.node} | ${p.build} | ${p.similarity} GFLOP/s | ${p.weighted} GFLOP/s | ${p.transposed} GFLOP/s |`,
  ),
];
const passLines = [
  '| case | variant | Node | build | pass | time | its GEMMs alone | outside the micro-kernel |',
  '|---|---|---|---|---|---|---|---|',
  ...passes.map(
    (p) =>
      `| ${p.case} | ${p.variant} | ${p.node} | ${p.build} | ${p.pass} | ${p.ms} ms | ${p.gemm_ms ? `${p.gemm_ms} ms` : '–'} | ${p.outside == null ? '–' : `${Math.round(100 * p.outside)} %`} |`,
  ),
];
const timelineLines = [
  "| case | variant | Node | build | call | taking the inputs | every worker busy | some idle | none busy | results | workers' time by task |",
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...timelines.map(
    (t) =>
      `| ${t.case} | ${t.variant} | ${t.node} | ${t.build} | ${t.call_ms} ms | ${t.input_ms} ms | ${t.all_ms} ms | ${t.some_ms} ms | ${t.none_ms} ms | ${t.output_ms} ms | ${Object.entries(
        t.work_ms,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')} |`,
  ),
];
const peakLine = [...peakGflops].map(([key, g]) => `${key} ${g} GFLOP/s`).join(', ');

/** The CPU as /proc/cpuinfo names it ("model name"), else as Node does. */
function cpuName() {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch {}
  return cpus()[0]?.model ?? 'unknown CPU';
}
const machine =
  `${cpuName()} (/proc/cpuinfo "model name"), ${cpus().length} cores, 1-minute load average ` +
  `${loadStart.toFixed(2)} at the start and ${loadavg()[0].toFixed(2)} at the end (others may share the CPU); ` +
  `package rows under Node ${nodes.map((n) => n.version).join(', ')}` +
  (args['no-tfjs'] ? '' : `; TF.js under Node ${process.version}`);
const git = (argv) => spawnSync('git', argv, { cwd: here('..'), encoding: 'utf8' }).stdout?.trim() ?? '';
const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
const dirty = git(['status', '--porcelain', '--untracked-files=no']) ? ' plus uncommitted changes' : '';
/** Pads the cells of each Markdown table so that its columns line up in plain text too. */
function alignTables(text) {
  const out = [];
  let table = [];
  const flush = () => {
    const rows = table.map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
    for (const r of rows) {
      const cells = widths.map((w, i) =>
        /^-+$/.test(r[i]) ? '-'.repeat(w) : r[i].padEnd(w + r[i].length - [...r[i]].length),
      );
      out.push(`| ${cells.join(' | ')} |`);
    }
    table = [];
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('|')) table.push(line);
    else {
      if (table.length) flush();
      out.push(line);
    }
  }
  if (table.length) flush();
  return out.join('\n');
}
const out = alignTables(
  [
    `Machine: ${machine}.`,
    `Package: dist/ built ${distBuilt.toISOString()} from commit ${commit}${dirty}.`,
    'Value + gradient per batch, median of the runs; ratios below 1 mean this package is faster. The package',
    'rows write the gradient into an array allocated once (gradInto), as a training loop does.',
    'Efficiency: minimal GEMM work ÷ (time × single-core peak × threads), the peak being the best phase GFLOP/s',
    `of the same Node and build below (as multiply-adds: GFLOP/s ÷ 2): ${peakLine || 'not measured'}.`,
    '',
    ...lines,
    '',
    '2-thread speed-up (time at 1 thread ÷ time at 2 threads); in parentheses, that speed-up as a fraction of the',
    "machine's two-process gain for the same call (two processes running its 1-thread call at once: their",
    'throughput over one alone), measured in this run under the first Node:',
    '',
    ...speedupLines,
    '',
    'Kernel phases, one thread:',
    '',
    ...phaseLines,
    '',
    `Two cores: two copies of the similarity phase at once (two processes, Node ${first.version}, SIMD) run at ` +
      `${twoCoreScaling.toFixed(2)}× the throughput of one copy alone (2× is perfect scaling): the ceiling of a ` +
      '2-thread speed-up on this machine.',
    '',
    'One image\'s passes, one thread (first image of the case; "its GEMMs alone": the similarity strips and weighted',
    'accumulations the pass calls, at the same shapes, timed alternately with the pass in the same process):',
    '',
    ...passLines,
    '',
    "Where a 2-thread call's time goes (median of 5 calls; a worker is busy from the moment a task is handed to it",
    'until its reply arrives; "some idle": a stage that runs on one worker, or a pass\'s last part; "results": the',
    "gradient copied into gradInto and the results assembled; workers' time in ms):",
    '',
    ...timelineLines,
    '',
    `Losses agree within 1e-4 relative: ${disagreements === 0 ? 'yes' : `no (${disagreements} rows differ)`}.`,
    ...(torchVersion
      ? []
      : ['PyTorch rows: not run (install with `apt-get install python3-torch libopenblas0-pthread`).']),
  ].join('\n'),
);
console.log(out);
if (args.markdown) writeFileSync(args.markdown, `${out}\n`);
if (disagreements > 0) process.exitCode = 1;
