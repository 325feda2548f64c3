// What a call costs before its kernels run (docs/design.md §8): the time until the loss function
// returns its promise — validation, the finite scan and the copies of the inputs it takes — and
// the memory those copies hold, at a benchmark case's size. Median of the runs, one thread.
//   node bench/snapshot.mjs [case: pc | nce-full | ce] [runs] [--grad-into]
import { createEngine } from '../dist/index.js';
import { makeCase } from '../support/cases.mjs';

const [name = 'pc', runsArg = '7'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const c = makeCase(name);
const engine = await createEngine({ threads: 1 });
// --grad-into: gradients into an array allocated once, as in a training loop (the copies are then reused).
const into = process.argv.includes('--grad-into') ? new Float32Array((c.features ?? c.logits).length) : undefined;
const gradInto = into && (c.loss === 'cross_entropy' ? { logits: into } : { features: into });
const call = () =>
  c.loss === 'cross_entropy'
    ? engine.crossEntropy({ logits: c.logits, target: c.target, shape: c.shape, weight: c.weight, gradInto })
    : c.loss === 'patch_contrast'
      ? engine.patchContrast({ features: c.features, mask: c.mask, shape: c.shape, patchSize: c.patchSize, gradInto })
      : engine.infoNCE({ features: c.features, mask: c.mask, shape: c.shape, gradInto });
const inputBytes = (c.features ?? c.logits).byteLength;
const taken = [],
  total = [],
  held = [];
for (let i = 0; i < Number(runsArg); i++) {
  globalThis.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  const pending = call();
  const t1 = performance.now();
  held.push(process.memoryUsage().arrayBuffers - before);
  await pending;
  total.push(performance.now() - t0);
  taken.push(t1 - t0);
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  JSON.stringify({
    case: name,
    inputMB: +(inputBytes / 2 ** 20).toFixed(1),
    takenMs: +median(taken).toFixed(1),
    callMs: +median(total).toFixed(1),
    share: +(median(taken) / median(total)).toFixed(3),
    heldMB: +(median(held) / 2 ** 20).toFixed(1),
  }),
);
await engine.dispose();
