// The runtime smoke suite: every loss on a few golden cases with threads 2 (workers really
// started), checked against the golden values and against threads 1 bit for bit, and the sync
// methods against the async ones (on the workers where the thread may wait for them, else in the
// calling thread). Runtime-neutral: each runner (Deno, Bun, Chromium) passes the package and a way
// to read a fixture.
import { checkAgainstGolden } from '../helpers/check.mjs';
import { optionsOf } from '../helpers/compare.mjs';
import { tally } from './tally.mjs';

export const SMOKE_CASES = [
  ['cross_entropy', 'index_c2_cflweight_mean', 'crossEntropy'],
  ['cross_entropy', 'label_smoothing_0p1_weight_ignore_mean', 'crossEntropy'],
  ['cross_entropy', 'soft_weight_mean', 'crossEntropy'],
  ['patch_contrast', 'basic_b2_c6_12x12_p4__exact', 'patchContrast'],
  ['patch_contrast', 'b3_mixed__cflnet', 'patchContrast'],
  // One image on two threads: pooled and back-propagated in bands where the runtime shares memory.
  ['patch_contrast', 'realistic_b1_c16_24x24_p4__exact', 'patchContrast'],
  ['info_nce', 'basic_b2_c8_8x8__mean-logit', 'infoNCE'],
  ['info_nce', 'sampled_indices_b2_16x16__mean-exp', 'infoNCE'],
  ['info_nce', 'no_usable_image__mean-logit', 'infoNCE'],
  ['cfl_objective', 'basic_b2_c8_12x12', 'cflObjective'],
];

const same = (a, b) => JSON.stringify(a, replacer) === JSON.stringify(b, replacer);
const replacer = (_, v) => (ArrayBuffer.isView(v) ? Array.from(v, (x) => (Number.isNaN(x) ? 'NaN' : x)) : v);

/** Returns { passed, failed, failures, info } for `pkg` (the package's index module). */
export async function runSmoke(pkg, loadCase) {
  const threaded = await pkg.createEngine({ threads: 2 });
  const single = await pkg.createEngine({
    threads: 1,
    wasmBuild: threaded.info.backend === 'wasm-relaxed-simd' ? 'relaxed-simd' : 'simd',
  });
  const { check, result } = tally();
  await check('engine runs 2 worker threads', async () => {
    if (threaded.info.threads !== 2)
      throw new Error(`threads ${threaded.info.threads}: ${threaded.info.notes.join('; ')}`);
  });
  for (const [loss, name, fn] of SMOKE_CASES) {
    const c = await loadCase(loss, name);
    await check(`${loss}/${name}`, async () => {
      const result = await threaded[fn](optionsOf(c));
      checkAgainstGolden(c, result);
      if (!same(result, await single[fn](optionsOf(c)))) throw new Error('threads 2 and threads 1 differ');
      if (!same(result, threaded[`${fn}Sync`](optionsOf(c)))) throw new Error('sync and async differ');
    });
  }
  await check('bad input is a RangeError naming the field', async () => {
    const c = await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__exact');
    const o = optionsOf(c);
    o.temperature = -1;
    const error = await threaded.patchContrast(o).then(
      () => null,
      (e) => e,
    );
    if (!(error instanceof RangeError) || !/temperature/.test(error.message)) throw new Error(`got ${error}`);
  });
  const info = threaded.info;
  await threaded.dispose();
  await single.dispose();
  return result({ info });
}
