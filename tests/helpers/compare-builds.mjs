// Runs every loss on random inputs with both wasm builds and checks they agree within the
// float32 tolerances (relaxed_madd may fuse, so results differ by rounding only).
import { createEngine } from '../../dist/index.js';
import { assertClose, assertGradClose } from './golden.mjs';
import { blobMask, gaussian, rng } from './engine.mjs';

const simd = await createEngine({ wasmBuild: 'simd' });
const relaxed = await createEngine({ wasmBuild: 'relaxed-simd' });
const [B, C, H, W] = [2, 24, 32, 40];
const features = gaussian(B * C * H * W, 11),
  mask = blobMask(B, H, W, 5);
const logits = gaussian(B * 5 * H * W, 12, 3),
  r = rng(4);
const target = Int32Array.from({ length: B * H * W }, () => Math.floor(r() * 5));
const calls = [
  ['crossEntropy', { logits, shape: [B, 5, H, W], target, weight: [1, 2, 0.5, 1, 3], labelSmoothing: 0.1 }, 'logits'],
  ['patchContrast', { features, mask, shape: [B, C, H, W], variant: 'exact' }, 'features'],
  ['patchContrast', { features, mask, shape: [B, C, H, W], variant: 'cflnet' }, 'features'],
  ['infoNCE', { features, mask, shape: [B, C, H, W], positive: 'mean-logit' }, 'features'],
  [
    'infoNCE',
    { features, mask, shape: [B, C, H, W], positive: 'mean-exp', sample: { maxPerClass: 100, seed: 3 } },
    'features',
  ],
];
for (const [fn, options, field] of calls) {
  const a = await simd[fn](options),
    b = await relaxed[fn](options);
  if (a.backend !== 'wasm-simd' || b.backend !== 'wasm-relaxed-simd')
    throw new Error(`backends ${a.backend}, ${b.backend}`);
  assertClose(b.loss, a.loss, `${fn} loss`);
  assertGradClose(b.grad[field], a.grad[field], `${fn} grad`);
}
// Worker threads run the relaxed build too (Node refuses V8 flags in a worker's execArgv, so the
// pool must not pass the process's flags on).
const relaxedThreads = await createEngine({ wasmBuild: 'relaxed-simd', threads: 2 });
if (relaxedThreads.info.threads !== 2)
  throw new Error(
    `relaxed-simd with threads 2 runs ${relaxedThreads.info.threads}: ${relaxedThreads.info.notes.join('; ')}`,
  );
const [fn, options] = calls[1];
if (
  JSON.stringify(Array.from((await relaxedThreads[fn](options)).grad.features.subarray(0, 64))) !==
  JSON.stringify(Array.from((await relaxed[fn](options)).grad.features.subarray(0, 64)))
) {
  throw new Error('relaxed-simd: threads 2 and threads 1 differ');
}
await relaxedThreads.dispose();
console.log('builds agree');
