// The device suite, runtime-neutral (Deno over lavapipe, headless Chromium over SwiftShader): an
// engine on a caller's GPUDevice (createEngine({ device })) and its sync calls on GPU buffers —
// golden parity of every loss and variant from buffers read back here, the split paths, nothing
// read back by a call (mapAsync counted), byteOffset, NaN for non-finite features, bad input,
// balanced error scopes, a validation error reported by the next call, the device surviving
// dispose, and its loss reported clearly.
import { assertClose, assertExact, assertGradClose, TOL } from '../helpers/compare.mjs';
import { optionsOf } from '../helpers/compare.mjs';
import { WEBGPU_CASES } from './webgpu.mjs';
import { tally } from './tally.mjs';

const LOSS_FN = {
  cross_entropy: 'crossEntropySync',
  patch_contrast: 'patchContrastSync',
  info_nce: 'infoNCESync',
  cfl_objective: 'cflObjectiveSync',
};
const STORAGE = 128 | 4 | 8;
const SPLIT_CASES = [
  ['patch_contrast', 'realistic_b1_c16_24x24_p4__cflnet'],
  ['info_nce', 'realistic_b2_c16_12x12__mean-logit'],
  ['info_nce', 'basic_b2_c8_8x8__mean-exp'],
  ['cross_entropy', 'index_c3_weight_none'],
  ['cross_entropy', 'soft_mean'],
  ['cfl_objective', 'basic_b2_c8_12x12'],
];

/** A device of this runtime's adapter, or null. */
async function newDevice() {
  const adapter = await globalThis.navigator?.gpu?.requestAdapter();
  if (!adapter) return null;
  const limits = { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
  return adapter.requestDevice({ requiredLimits: limits });
}

/** A GPU buffer holding `values` from byte `offset`. */
function upload(device, values, offset = 0) {
  const buffer = device.createBuffer({ size: offset + values.byteLength, usage: STORAGE });
  device.queue.writeBuffer(buffer, offset, values);
  return { buffer, byteOffset: offset };
}

/** A result buffer's floats, read back here (never by the engine). */
async function readBack(device, out) {
  const rb = device.createBuffer({ size: out.byteLength, usage: 1 | 8 });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(out.buffer, out.byteOffset, rb, 0, out.byteLength);
  device.queue.submit([encoder.finish()]);
  await rb.mapAsync(1);
  const values = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  rb.destroy();
  return values;
}

/** A golden case's options with its features and logits (and half the time its probabilities) on the device. */
function onDevice(device, c, offset) {
  const o = optionsOf(c);
  if (o.features) o.features = upload(device, o.features, offset);
  if (o.logits) o.logits = upload(device, o.logits, offset);
  if (o.targetProbs && offset) o.targetProbs = upload(device, o.targetProbs);
  return o;
}

/** Counts mapAsync calls while `fn` runs (a call on the device reads nothing back). */
function countingMaps(fn) {
  const proto = globalThis.GPUBuffer.prototype;
  const original = proto.mapAsync;
  let maps = 0;
  proto.mapAsync = function (...args) {
    maps++;
    return original.apply(this, args);
  };
  try {
    return { result: fn(), maps };
  } finally {
    proto.mapAsync = original;
  }
}

/** Loss and gradients of a call on the device against its golden case; the CPU-side fields exactly. */
async function checkDeviceResult(device, c, r) {
  const e = c.expected;
  const noise = c.gradient_is_rounding_noise;
  const loss = await readBack(device, r.loss);
  const worst = { loss: 0, grad: 0 };
  if (Array.isArray(e.loss))
    e.loss.forEach((v, i) => {
      worst.loss = Math.max(worst.loss, assertClose(loss[i], v, `loss[${i}]`));
    });
  else worst.loss = assertClose(loss[0], e.loss, 'loss');
  for (const field of ['logits', 'features']) {
    if (!e.grad[field]) continue;
    const g = await readBack(device, r.grad[field]);
    worst.grad = Math.max(worst.grad, assertGradClose(g, e.grad[field], `grad.${field}`, { noise }));
  }
  if (c.loss === 'patch_contrast') {
    assertExact(r.patchLabels, e.patch_labels, 'patchLabels');
    assertExact(r.grid, e.patch_grid, 'grid');
  }
  if (c.loss === 'info_nce') {
    assertExact([r.numUsedImages], [e.num_used_images], 'numUsedImages');
    assertExact(r.usedImages, e.used_images, 'usedImages');
    assertExact(r.queryCounts.flat(), e.query_counts.flat(), 'queryCounts');
  }
  if (r.backend !== 'webgpu') throw new Error(`backend ${r.backend}`);
  return worst;
}

async function expectError(fn, type, pattern) {
  let error = null;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (!(error instanceof type) || !pattern.test(error.message))
    throw new Error(`expected ${type.name} ${pattern}, got ${error}`);
}

export async function runDeviceSuite(pkg, loadCase) {
  const device = await newDevice();
  if (!device) return { skipped: 'no WebGPU adapter' };
  const engine = await pkg.createEngine({ device });
  const worst = {};
  const { check, result } = tally({ prefix: 'device ' });
  const golden = async (e, loss, name, offset, tag = '') =>
    check(`${loss}/${name}${tag}`, async () => {
      const c = await loadCase(loss, name);
      const o = onDevice(device, c, offset);
      const { result, maps } = countingMaps(() => e[LOSS_FN[loss]](o));
      if (maps !== 0) throw new Error(`${maps} mapAsync calls during the call`);
      const w = await checkDeviceResult(device, c, result);
      worst[loss] ??= { loss: 0, grad: 0 };
      worst[loss].loss = Math.max(worst[loss].loss, w.loss);
      worst[loss].grad = Math.max(worst[loss].grad, w.grad);
    });

  await check("the engine is on the caller's device", async () => {
    if (engine.info.backend !== 'webgpu' || !/caller's device/.test(engine.info.notes.join(' ')))
      throw new Error(`info ${JSON.stringify(engine.info)}`);
  });
  // Every other case from byte 256 of a larger buffer.
  let i = 0;
  for (const [loss, name] of WEBGPU_CASES) await golden(engine, loss, name, i++ % 2 ? 256 : 0);
  const split = await pkg.createEngine({ device }, { gpu: { budgets: { strip: 1, slice: 1 } } });
  for (const [loss, name] of SPLIT_CASES) await golden(split, loss, name, 0, ' (split)');
  await split.dispose();

  await check("infoNCE sampled, scope 'batch', both positives: as the wasm engine", async () => {
    const wasm = await pkg.createEngine({ backend: 'wasm' });
    try {
      for (const positive of ['mean-logit', 'mean-exp'])
        for (const extra of [
          { scope: 'batch' },
          { sample: { maxPerClass: 5, seed: 3 } },
          { scope: 'batch', sample: { maxPerClass: 9, seed: 1 } },
        ]) {
          const o = { ...optionsOf(await loadCase('info_nce', `b3_mixed__${positive}`)), ...extra, positive };
          const w = wasm.infoNCESync(o);
          const g = engine.infoNCESync({ ...o, features: upload(device, o.features) });
          const what = `${positive} ${JSON.stringify(extra)}`;
          assertClose((await readBack(device, g.loss))[0], w.loss, `${what} loss`);
          assertGradClose(await readBack(device, g.grad.features), w.grad.features, `${what} grad`);
          assertExact(g.queryCounts.flat(), w.queryCounts.flat(), `${what} queryCounts`);
        }
    } finally {
      await wasm.dispose();
    }
  });

  await check('a non-finite feature on the GPU makes the loss NaN; the next call is fine', async () => {
    const c = await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__cflnet');
    const o = optionsOf(c);
    o.features = o.features.slice();
    o.features[100] = Number.NaN;
    const { patchSize, variant, ...nce } = o;
    for (const [loss, options] of [
      ['patchContrastSync', o],
      ['infoNCESync', nce],
    ]) {
      const r = engine[loss]({ ...options, features: upload(device, o.features) });
      const value = (await readBack(device, r.loss))[0];
      if (!Number.isNaN(value)) throw new Error(`${loss}: loss ${value}, expected NaN`);
    }
    const ce = optionsOf(await loadCase('cross_entropy', 'index_c3_weight_none'));
    ce.logits = ce.logits.slice();
    ce.logits[5] = Number.POSITIVE_INFINITY;
    const per = await readBack(device, engine.crossEntropySync({ ...ce, logits: upload(device, ce.logits) }).loss);
    if (!per.every(Number.isNaN)) throw new Error('reduction none: not every per-element loss is NaN');
  });
  await golden(engine, 'patch_contrast', 'basic_b2_c6_12x12_p4__exact', 0, ' (after NaN features)');

  await check('bad input: clear errors, nothing recorded', async () => {
    const o = optionsOf(await loadCase('info_nce', 'basic_b2_c8_8x8__mean-logit'));
    const short = upload(device, o.features.subarray(1));
    await expectError(
      () => engine.infoNCESync({ ...o, features: short }),
      RangeError,
      /features\.buffer holds \d+ bytes/,
    );
    await expectError(
      () => engine.infoNCESync({ ...o, features: { ...upload(device, o.features), byteOffset: 2 } }),
      RangeError,
      /byteOffset/,
    );
    const gradInto = { features: new Float32Array(o.features.length) };
    await expectError(
      () => engine.infoNCESync({ ...o, features: upload(device, o.features), gradInto }),
      TypeError,
      /gradInto/,
    );
    const noCopy = device.createBuffer({ size: o.features.byteLength, usage: 128 });
    await expectError(() => engine.infoNCESync({ ...o, features: { buffer: noCopy } }), TypeError, /COPY_SRC/);
    await expectError(
      () => engine.infoNCESync({ ...o, features: upload(device, o.features), mask: o.mask.subarray(1) }),
      RangeError,
      /mask/,
    );
    const wasm = await pkg.createEngine({ backend: 'wasm' });
    await expectError(
      () => wasm.infoNCESync({ ...o, features: upload(device, o.features) }),
      TypeError,
      /createEngine\(\{ backend: 'webgpu', device \}\)/,
    );
    await wasm.dispose();
    await expectError(() => pkg.createEngine({ device, backend: 'wasm' }), TypeError, /backend must be 'webgpu'/);
  });

  await check("error scopes stay balanced: the caller's own scope still catches its error", async () => {
    const o = optionsOf(await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__exact'));
    device.pushErrorScope('validation');
    engine.patchContrastSync({ ...o, features: upload(device, o.features) });
    device.createBuffer({ size: 4, usage: 1 | 128 }); // MAP_READ with STORAGE: invalid
    const error = await device.popErrorScope();
    if (!error) throw new Error("the caller's scope caught nothing");
  });

  await check('a buffer of another device: a validation error, thrown by the next call', async () => {
    const other = await newDevice();
    const o = optionsOf(await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__exact'));
    engine.patchContrastSync({ ...o, features: upload(other, o.features) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expectError(
      () => engine.patchContrastSync({ ...o, features: upload(device, o.features) }),
      Error,
      /WebGPU validation error/,
    );
    other.destroy();
  });
  await golden(engine, 'info_nce', 'basic_b2_c8_8x8__mean-exp', 0, ' (after a validation error)');

  await check("dispose leaves the caller's device working", async () => {
    await engine.dispose();
    const values = await readBack(device, { ...upload(device, Float32Array.of(1, 2, 3, 4)), byteLength: 16 });
    if (values.join() !== '1,2,3,4') throw new Error(`read ${values}`);
    const lost = await Promise.race([
      device.lost.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 100)),
    ]);
    if (lost) throw new Error('the device was lost');
    await expectError(() => engine.patchContrastSync({}), Error, /disposed/);
  });

  await check('the loss of the device: calls say so and never request another', async () => {
    const mine = await pkg.createEngine({ device });
    device.destroy();
    await device.lost;
    const o = optionsOf(await loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__exact'));
    await expectError(
      () => mine.patchContrastSync({ ...o, features: { buffer: { size: 1e6, usage: 4 } } }),
      Error,
      /was made on was lost/,
    );
    await expectError(() => mine.patchContrast(o), Error, /was made on was lost/);
    await mine.dispose();
  });
  return result({ worst, tolerance: TOL.rtol });
}
