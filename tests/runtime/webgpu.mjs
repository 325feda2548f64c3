// The WebGPU suite, runtime-neutral (Deno over Mesa's lavapipe, headless Chromium over SwiftShader):
// golden parity of every loss and variant through createEngine({ backend: 'webgpu' }), the split
// paths (strips, channel slices, pixel chunks) forced by tiny budgets, device loss and recovery,
// bad input, backend 'auto' on a fallback adapter, and dispose. Software adapters are slow, so the
// fixtures are a few small cases per loss.
import { checkAgainstGolden } from '../helpers/check.mjs';
import { optionsOf } from '../helpers/compare.mjs';
import { tally } from './tally.mjs';

const LOSS_FN = {
  cross_entropy: 'crossEntropy',
  patch_contrast: 'patchContrast',
  info_nce: 'infoNCE',
  cfl_objective: 'cflObjective',
};

export const WEBGPU_CASES = [
  ['cross_entropy', 'index_c2_cflweight_mean'],
  ['cross_entropy', 'index_c3_weight_none'],
  ['cross_entropy', 'label_smoothing_0p1_weight_ignore_mean'],
  ['cross_entropy', 'ignore_everywhere_mean'],
  ['cross_entropy', 'soft_label_smoothing_weight_mean'],
  ['cross_entropy', 'soft_weight_sum'],
  ['patch_contrast', 'basic_b2_c6_12x12_p4__exact'],
  ['patch_contrast', 'basic_b2_c6_12x12_p4__cflnet'],
  ['patch_contrast', 'b3_mixed__exact'],
  ['patch_contrast', 'b3_mixed__cflnet'],
  ['patch_contrast', 'zero_vectors__exact'],
  ['patch_contrast', 'zero_vectors__cflnet'],
  ['patch_contrast', 'c64_8x8_p2__cflnet'],
  ['patch_contrast', 'temperature_0p07__exact'],
  ['info_nce', 'basic_b2_c8_8x8__mean-logit'],
  ['info_nce', 'basic_b2_c8_8x8__mean-exp'],
  ['info_nce', 'sampled_indices_b2_16x16__mean-logit'],
  ['info_nce', 'sampled_indices_b2_16x16__mean-exp'],
  ['info_nce', 'zero_vectors__mean-logit'],
  ['info_nce', 'zero_vectors__mean-exp'],
  ['info_nce', 'b3_mixed__mean-exp'],
  ['info_nce', 'no_usable_image__mean-logit'],
  ['cfl_objective', 'basic_b2_c8_12x12'],
  ['cfl_objective', 'fractional_mask'],
];

/** Cases run again with tiny budgets: several strips, one channel per slice, pixel chunks. */
const SPLIT_CASES = [
  ['patch_contrast', 'realistic_b1_c16_24x24_p4__cflnet'],
  ['patch_contrast', 'realistic_b1_c16_24x24_p4__exact'],
  ['info_nce', 'basic_b2_c8_8x8__mean-exp'],
  ['info_nce', 'realistic_b2_c16_12x12__mean-logit'],
  ['cross_entropy', 'index_c3_weight_none'],
  ['cross_entropy', 'soft_mean'],
];

/**
 * Returns { skipped } when this runtime has no WebGPU adapter, else
 * { passed, failed, failures, info, worst: { <loss>: { loss, grad } } }.
 */
export async function runWebGpuSuite(pkg, loadCase, { cases = WEBGPU_CASES } = {}) {
  let engine, device;
  try {
    // The test entry's look at each device the engine gets (to lose it on purpose, below).
    engine = await pkg.createEngine({ backend: 'webgpu' }, { gpu: { onDevice: (d) => (device = d) } });
  } catch (error) {
    return { skipped: String(error?.message ?? error) };
  }
  const worst = {};
  const { check, result, times } = tally();
  const golden = async (e, loss, name, tag = '') => {
    const c = await loadCase(loss, name);
    await check(`${loss}/${name}${tag}`, async () => {
      const r = await e[LOSS_FN[loss]](optionsOf(c));
      if (r.backend !== 'webgpu') throw new Error(`backend ${r.backend}, expected webgpu`);
      const w = checkAgainstGolden(c, r);
      worst[loss] ??= { loss: 0, grad: 0 };
      const acc = worst[loss];
      acc.loss = Math.max(acc.loss, w.loss);
      acc.grad = Math.max(acc.grad, w.grad);
    });
  };

  await check('engine reports webgpu and its adapter', async () => {
    if (engine.info.backend !== 'webgpu') throw new Error(`info.backend ${engine.info.backend}`);
    const a = engine.info.webgpu;
    if (!a || typeof a.isFallbackAdapter !== 'boolean' || !(a.maxStorageBufferBindingSize > 0))
      throw new Error(`info.webgpu ${JSON.stringify(a)}`);
  });
  for (const [loss, name] of cases) await golden(engine, loss, name);

  await check('grad: false gives the same loss and no gradient', async () => {
    const o = optionsOf(await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__cflnet'));
    const [a, b] = [await engine.patchContrast(o), await engine.patchContrast({ ...o, grad: false })];
    if (b.grad !== undefined || a.loss !== b.loss)
      throw new Error(`loss ${a.loss} vs ${b.loss}, grad ${typeof b.grad}`);
  });

  // An engine of the test entry with tiny budgets: every call split.
  const split = await pkg.createEngine({ backend: 'webgpu' }, { gpu: { budgets: { strip: 1, slice: 1 } } });
  for (const [loss, name] of SPLIT_CASES)
    await golden(split, loss, name, ' (split: 32-row strips, 1-channel slices, pixel chunks)');
  await split.dispose();

  await check('a non-finite feature is a RangeError naming it, and the engine keeps working', async () => {
    const o = optionsOf(await loadCase('info_nce', 'basic_b2_c8_8x8__mean-logit'));
    o.features = o.features.slice();
    o.features[700] = Number.NaN;
    const error = await engine.infoNCE(o).then(
      () => null,
      (e) => e,
    );
    if (!(error instanceof RangeError) || !/features\[700\]/.test(error.message)) throw new Error(`got ${error}`);
    const logits = optionsOf(await loadCase('cross_entropy', 'index_c2_cflweight_mean'));
    logits.logits = logits.logits.slice();
    logits.logits[33] = Number.POSITIVE_INFINITY;
    const ceError = await engine.crossEntropy(logits).then(
      () => null,
      (e) => e,
    );
    if (!(ceError instanceof RangeError) || !/logits\[33\]/.test(ceError.message)) throw new Error(`got ${ceError}`);
  });
  await golden(engine, 'info_nce', 'basic_b2_c8_8x8__mean-logit', ' (after a rejected call)');

  await check("infoNCE scope 'batch' on WebGPU matches the wasm engine (both positive terms)", async () => {
    const wasm = await pkg.createEngine({ backend: 'wasm' });
    try {
      for (const name of ['b3_mixed__mean-logit', 'b3_mixed__mean-exp']) {
        const o = { ...optionsOf(await loadCase('info_nce', name)), scope: 'batch' };
        const [g, w] = [await engine.infoNCE(o), await wasm.infoNCE(o)];
        if (g.backend !== 'webgpu') throw new Error(`backend ${g.backend}`);
        if (!(Math.abs(g.loss - w.loss) <= 1e-4 * Math.max(1, Math.abs(w.loss))))
          throw new Error(`${name}: loss ${g.loss}, wasm ${w.loss}`);
        if (JSON.stringify(g.queryCounts) !== JSON.stringify(w.queryCounts)) throw new Error(`${name}: queryCounts`);
        let maxW = 0,
          maxD = 0;
        w.grad.features.forEach((v, i) => {
          maxW = Math.max(maxW, Math.abs(v));
          maxD = Math.max(maxD, Math.abs(v - g.grad.features[i]));
        });
        if (!(maxD <= 1e-3 * maxW)) throw new Error(`${name}: gradient differs by ${maxD} (max ${maxW})`);
      }
    } finally {
      await wasm.dispose();
    }
  });

  // A new device recompiles every pipeline it uses (slow on software adapters): cross-entropy needs one.
  await check('device lost between calls: the next call gets a new device', async () => {
    device.destroy();
    await device.lost;
  });
  await golden(engine, 'cross_entropy', 'label_smoothing_0p1_weight_ignore_mean', ' (after device loss)');
  await check('device lost during a call: a clear error (or the result), then the engine works', async () => {
    const c = await loadCase('cross_entropy', 'soft_weight_sum');
    const pending = engine.crossEntropy(optionsOf(c));
    device.destroy();
    const outcome = await pending.then(
      (r) => r,
      (e) => e,
    );
    if (outcome instanceof Error && !/WebGPU device was lost/.test(outcome.message)) throw outcome;
  });
  await golden(engine, 'cross_entropy', 'soft_weight_sum', ' (after device loss during a call)');

  const info = engine.info;
  await engine.dispose();
  await check('calls after dispose reject', async () => {
    const error = await engine.crossEntropy(optionsOf(await loadCase('cross_entropy', 'index_c2_mean'))).then(
      () => null,
      (e) => e,
    );
    if (!(error instanceof Error) || !/disposed/.test(error.message)) throw new Error(`got ${error}`);
  });

  await check("backend 'auto' on this adapter", async () => {
    const auto = await pkg.createEngine({ backend: 'auto' });
    try {
      if (!auto.info.webgpu) throw new Error(`auto found no adapter: ${auto.info.notes.join('; ')}`);
      const o = optionsOf(await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__exact'));
      const r = await auto.patchContrast(o);
      // A small call stays on wasm whatever the adapter; a fallback adapter is never used by 'auto'.
      if (!r.backend.startsWith('wasm')) throw new Error(`small call ran on ${r.backend}`);
    } finally {
      await auto.dispose();
    }
    const forced = await pkg.createEngine({ backend: 'auto', webgpuAuto: { allowFallbackAdapter: true, margin: 0 } });
    try {
      const pc = await loadCase('patch_contrast', 'b3_mixed__cflnet');
      const r = await forced.patchContrast(optionsOf(pc));
      if (r.backend !== 'webgpu') throw new Error(`margin 0: patchContrast ran on ${r.backend}`);
      checkAgainstGolden(pc, r);
      const ce = await loadCase('cross_entropy', 'index_c2_cflweight_mean');
      const rc = await forced.crossEntropy(optionsOf(ce));
      if (!rc.backend.startsWith('wasm')) throw new Error(`crossEntropy ran on ${rc.backend} under auto`);
      checkAgainstGolden(ce, rc);
    } finally {
      await forced.dispose();
    }
  });

  const slowest = times
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([name, ms]) => `${name} ${ms} ms`);
  return result({ info, worst, slowest });
}
