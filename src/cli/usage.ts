// The help texts of the tool and its commands (printed by --help / -h).

/** Help of the tool as a whole. */
export const TOOL_HELP = `forgery-losses: losses of image-forgery localization and their gradients (WebAssembly SIMD)

Usage:
  forgery-losses demo [--threads N|auto] [--backend auto|wasm|webgpu]
  forgery-losses eval <loss> [inputs] [options]
  forgery-losses bench [args for bench/compare.mjs]
  forgery-losses --help | --version

Commands:
  demo    run every loss and variant on the sample (made at run time) and print a table
  eval    compute one loss on .npy inputs; print it, optionally as JSON, and write gradients
  bench   run the comparison benchmark (bench/compare.mjs in a checkout of the package)

<loss> is one of cross-entropy, patch-contrast, info-nce, cfl-objective.
Run 'forgery-losses <command> --help' for a command's options.

Exit status: 0 on success, 1 when inputs cannot be read or are rejected (or an output cannot be
written), 2 for a wrong command line (an output that is one of the inputs included).`;

/** Help of the demo command. */
export const DEMO_HELP = `Usage: forgery-losses demo [--threads N|auto] [--backend auto|wasm|webgpu]

Makes the sample (2 images, 16-channel 64x64 features, 2-class logits, a forged blob per image;
deterministic, the bytes of sample/*.npy in a checkout), runs every loss and variant on it and prints one row for each:
loss, variant, value, L2 norm of the gradient (all gradients of the call together), time, backend
and threads. The first line describes the engine.

Options:
  --threads N|auto   engine threads (default 1)
  --backend NAME     auto, wasm or webgpu (default auto)
  -h, --help         this help`;

/** Help of the eval command. */
export const EVAL_HELP = `Usage: forgery-losses eval <loss> [inputs] [options]

Losses and their inputs (regular .npy files: float32, float64, uint8, bool, int32 or int64;
C order, little-endian; layout NCHW; their size must be what their header says):
  cross-entropy    --logits L.npy (B,C,H,W) and one of
                   --target T.npy (B,H,W) class indices, or --target-probs P.npy (B,C,H,W)
  patch-contrast   --features F.npy (B,C,H,W) --mask M.npy (B,1,H,W) or (B,H,W)
  info-nce         --features F.npy --mask M.npy
  cfl-objective    --logits L.npy (B,2,H,W) --features F.npy --mask M.npy

Loss options (each applies to the losses named):
  --weight W0,W1,...       class weights (cross-entropy; cfl-objective, default 0.0892,0.9108)
  --ignore-index N         target value to ignore (cross-entropy, default -100)
  --reduction R            mean, sum or none (cross-entropy, default mean)
  --label-smoothing X      in [0, 1] (cross-entropy, default 0)
  --patch-size P           patch side, divides H and W (patch-contrast, cfl-objective; default 4)
  --temperature T          > 0 (patch-contrast, info-nce, cfl-objective; default 0.1)
  --variant V              exact or cflnet (patch-contrast, default exact)
  --positive P             mean-logit or mean-exp (info-nce, default mean-logit)
  --scope S                image (one dictionary per image, default) or batch (one for the
                           whole batch, the images stacked vertically) (info-nce)
  --max-per-class K        seeded sample of K pixels per class and image (info-nce; default:
                           every pixel; with --scope batch, of the stacked batch)
  --seed S                 seed of that sample (info-nce, default 0)
  --alpha A                weight of the contrastive term (cfl-objective, default 1)

Output:
  --json                   print one JSON object: loss (an array for reduction none), backend,
                           threads, the loss's other result fields, gradNorm; NaN as "NaN"
  --grad-out G.npy         write the gradient as float32 .npy of the input's shape: w.r.t. the
                           logits for cross-entropy, the features for the other losses
  --grad-logits-out G.npy  write the gradient w.r.t. the logits (cfl-objective)
                           Outputs go to a temporary file renamed into place: all or none are
                           written, and never over an input. If a write fails the loss is still
                           printed and the exit status is 1.
  --quiet                  no progress bar (otherwise shown on stderr, when it is a terminal,
                           for a loss that runs over a second)
  --threads N|auto         engine threads (default 1)
  --backend NAME           auto, wasm or webgpu (default auto)
  -h, --help               this help

Example:
  forgery-losses eval patch-contrast --features F.npy --mask M.npy --variant cflnet --json`;

/** Help of the bench command. */
export const BENCH_HELP = `Usage: forgery-losses bench [args]

Runs bench/compare.mjs of the package with node, passing every argument through; the benchmark is
part of a checkout of the package, not of the published files. Use 'forgery-losses bench -- --help'
for the benchmark's own options.`;
