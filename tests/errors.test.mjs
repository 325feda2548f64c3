// Bad input: every rejection is a TypeError or RangeError naming the field, and the same engine
// computes a valid call correctly afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAgainstGolden } from './helpers/check.mjs';
import { engine, gaussian } from './helpers/engine.mjs';
import { loadCase, optionsOf } from './helpers/golden.mjs';
import { crossEntropyRef } from './reference/index.mjs';

const golden = {
  crossEntropy: loadCase('cross_entropy', 'label_smoothing_0p1_weight_ignore_mean'),
  patchContrast: loadCase('patch_contrast', 'basic_b2_c6_12x12_p4__exact'),
  infoNCE: loadCase('info_nce', 'sampled_indices_b2_16x16__mean-exp'),
  cflObjective: loadCase('cfl_objective', 'basic_b2_c8_12x12'),
};

/** Expects `change(options)` to be rejected with `type` and a message matching `field`. */
async function rejects(fn, change, type, field) {
  const e = await engine();
  const options = optionsOf(golden[fn]);
  const changed = change(options);
  const bad = changed === undefined ? options : changed;
  await assert.rejects(
    e[fn](bad),
    (err) => {
      assert.ok(err instanceof type, `expected ${type.name}, got ${err?.constructor?.name}: ${err?.message}`);
      assert.match(err.message, field);
      return true;
    },
    `no rejection for ${field}`,
  );
  // The engine still works: the unmodified call matches the golden values.
  checkAgainstGolden(golden[fn], await e[fn](optionsOf(golden[fn])));
}

const nan = (arr, i = 3, v = Number.NaN) => {
  const c = arr.slice();
  c[i] = v;
  return c;
};

test('crossEntropy rejects bad input by field', async () => {
  await rejects(
    'crossEntropy',
    (o) => {
      o.logits = o.logits.subarray(1);
    },
    RangeError,
    /logits must have \d+ elements/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.logits = Array.from(o.logits);
    },
    TypeError,
    /logits must be a Float32Array/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.shape = [2, 3, 8];
    },
    TypeError,
    /shape must be \[B, C, H, W\]/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.shape = [2, 3, 8, 0];
    },
    TypeError,
    /shape/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.shape = [2, 3, 8, 8.5];
    },
    TypeError,
    /shape/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.logits = nan(o.logits);
    },
    RangeError,
    /logits\[3\] = NaN/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.logits = nan(o.logits, 100, Infinity);
    },
    RangeError,
    /logits\[100\] = Infinity/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.target = nan(o.target, 5, 3);
    },
    RangeError,
    /target\[5\] = 3.*\[0, 3\)/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.target = nan(o.target, 7, -1);
    },
    RangeError,
    /target\[7\] = -1/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.weight = [1, 2];
    },
    RangeError,
    /weight must have C = 3/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.weight = [1, Number.NaN, 2];
    },
    RangeError,
    /weight\[1\]/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.labelSmoothing = 1.5;
    },
    RangeError,
    /labelSmoothing/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.labelSmoothing = -0.1;
    },
    RangeError,
    /labelSmoothing/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.reduction = 'avg';
    },
    RangeError,
    /reduction must be one of/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.targetProbs = new Float32Array(o.logits.length);
    },
    TypeError,
    /exactly one of target/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      delete o.target;
    },
    TypeError,
    /exactly one of target/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.target = Float32Array.from(o.target);
    },
    TypeError,
    /target must be an Int32Array/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.target = o.target.subarray(2);
    },
    RangeError,
    /target must have/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      o.ignoreIndex = 1.5;
    },
    RangeError,
    /ignoreIndex/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      delete o.target;
      o.targetProbs = new Float32Array(o.logits.length);
      o.ignoreIndex = 0;
    },
    RangeError,
    /ignoreIndex/,
  );
  await rejects(
    'crossEntropy',
    (o) => {
      delete o.target;
      o.ignoreIndex = -100;
      o.targetProbs = nan(new Float32Array(o.logits.length));
    },
    RangeError,
    /targetProbs\[3\] = NaN/,
  );
  await rejects('crossEntropy', () => null, TypeError, /options object/);
});

// The kernels check the logits as they compute (no separate pass): each code path must still
// find the first non-finite value, and huge finite logits must not be mistaken for one.
test('crossEntropy finds a non-finite logit on every kernel path', async () => {
  const e = await engine();
  // H·W = 35: two 16-pixel blocks and a 3-pixel tail; 24: one block and two 4-pixel groups.
  for (const [H, W] of [
    [5, 7],
    [6, 4],
  ]) {
    for (const C of [2, 3]) {
      const B = 2,
        hw = H * W,
        n = B * C * hw,
        shape = [B, C, H, W];
      const logits = gaussian(n, 7 * C + H);
      const t = Array.from({ length: B * hw }, (_, i) => (i * 7) % C);
      const probs = new Float32Array(n).fill(1 / C);
      for (const at of [0, 17, hw - 1, C * hw + 20, n - 1]) {
        for (const v of [Number.NaN, Infinity, -Infinity]) {
          const bad = nan(logits, at, v);
          const message = (err) => err instanceof RangeError && err.message.startsWith(`logits[${at}] = ${v}:`);
          for (const target of [Int32Array.from(t), Uint8Array.from(t), Uint16Array.from(t)]) {
            await assert.rejects(
              e.crossEntropy({ logits: bad, target, shape }),
              message,
              `${target.constructor.name} C=${C} hw=${hw} at ${at}`,
            );
          }
          await assert.rejects(
            e.crossEntropy({ logits: bad, targetProbs: probs, shape }),
            message,
            `probabilities C=${C} hw=${hw} at ${at}`,
          );
        }
      }
    }
  }
});

test('crossEntropy computes huge finite logits (their running check overflows) instead of rejecting them', async () => {
  const e = await engine();
  const B = 1,
    C = 2,
    H = 6,
    W = 6,
    hw = H * W;
  // Class 1 is 3e38 above class 0 everywhere: the sum of the differences overflows, no logit does.
  const logits = new Float32Array(B * C * hw);
  logits.fill(3e38, hw);
  for (const y of [0, 1]) {
    const options = { logits, target: new Int32Array(hw).fill(y), shape: [B, C, H, W], weight: [0.5, 2] };
    const got = await e.crossEntropy(options);
    const want = crossEntropyRef(options);
    if (y === 1) assert.ok(got.loss >= 0 && got.loss < 1e-30, `loss ${got.loss}`);
    else assert.ok(Math.abs(got.loss - want.loss) <= 1e-6 * want.loss, `loss ${got.loss} vs ${want.loss}`);
    for (let i = 0; i < logits.length; i++)
      assert.ok(Math.abs(got.grad.logits[i] - want.grad[i]) <= 1e-6, `grad[${i}]`);
  }
});

test('patchContrast rejects bad input by field', async () => {
  await rejects(
    'patchContrast',
    (o) => {
      o.features = o.features.subarray(1);
    },
    RangeError,
    /features must have/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.mask = o.mask.subarray(1);
    },
    RangeError,
    /mask must have/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.patchSize = 5;
    },
    RangeError,
    /patchSize 5 must divide H \(12\)/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.patchSize = 0;
    },
    RangeError,
    /patchSize must be an integer ≥ 1/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.patchSize = 2.5;
    },
    RangeError,
    /patchSize/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.temperature = 0;
    },
    RangeError,
    /temperature must be a finite number > 0/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.temperature = -1;
    },
    RangeError,
    /temperature/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.temperature = Infinity;
    },
    RangeError,
    /temperature/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.features = nan(o.features, 900);
    },
    RangeError,
    /features\[900\] = NaN/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.features = nan(o.features, 1000, -Infinity);
    },
    RangeError,
    /features\[1000\] = -Infinity/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.mask = nan(o.mask, 200, 255);
    },
    RangeError,
    /mask\[200\] = 255.*divide/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.mask = nan(o.mask, 20, -0.5);
    },
    RangeError,
    /mask\[20\] = -0.5/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.mask = nan(o.mask, 250);
    },
    RangeError,
    /mask\[250\] = NaN/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.mask = Uint8Array.from(o.mask, (v) => v * 255);
    },
    RangeError,
    /Uint8Array mask must hold 0 or 1 \(divide/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.mask = Int32Array.from(o.mask);
    },
    TypeError,
    /mask must be a Float32Array/,
  );
  await rejects(
    'patchContrast',
    (o) => {
      o.variant = 'paper';
    },
    RangeError,
    /variant must be one of 'exact', 'cflnet'/,
  );
});

test('infoNCE rejects bad input by field', async () => {
  const lists = (o) => o.sample;
  await rejects(
    'infoNCE',
    (o) => {
      o.features = o.features.subarray(4);
    },
    RangeError,
    /features must have/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.temperature = 0;
    },
    RangeError,
    /temperature/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.features = nan(o.features, 17);
    },
    RangeError,
    /features\[17\] = NaN/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.positive = 'mean';
    },
    RangeError,
    /positive must be one of 'mean-logit', 'mean-exp'/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample = { maxPerClass: 10, pristine: lists(o).pristine, forged: lists(o).forged };
    },
    TypeError,
    /exactly one form/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample = 5;
    },
    TypeError,
    /sample must be/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample = { maxPerClass: 0 };
    },
    RangeError,
    /maxPerClass/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample = { maxPerClass: 4, seed: -1 };
    },
    RangeError,
    /seed/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample.pristine = [o.sample.pristine[0]];
    },
    TypeError,
    /sample.pristine must be an array of B = 2/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample.pristine[0] = [...o.sample.pristine[0], 256];
    },
    RangeError,
    /sample.pristine\[0\]\[24\] = 256.*\[0, 256\)/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample.forged[1] = [...o.sample.forged[1], o.sample.forged[1][0]];
    },
    RangeError,
    /repeated/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.sample.forged[0] = [...o.sample.forged[0], o.sample.pristine[0][0]];
    },
    RangeError,
    /forged pixels must have mask 1/,
  );
  await rejects(
    'infoNCE',
    (o) => {
      o.mask = nan(o.mask, 3, 2);
    },
    RangeError,
    /mask\[3\] = 2/,
  );
});

test('cflObjective rejects bad input by field', async () => {
  await rejects(
    'cflObjective',
    (o) => {
      o.logits = o.logits.subarray(1);
    },
    RangeError,
    /logits must have/,
  );
  await rejects(
    'cflObjective',
    (o) => {
      o.logits = nan(o.logits, 9);
    },
    RangeError,
    /logits\[9\] = NaN/,
  );
  await rejects(
    'cflObjective',
    (o) => {
      o.features = nan(o.features, 9);
    },
    RangeError,
    /features\[9\] = NaN/,
  );
  await rejects(
    'cflObjective',
    (o) => {
      o.alpha = Number.NaN;
    },
    TypeError,
    /alpha/,
  );
  await rejects(
    'cflObjective',
    (o) => {
      o.weight = [1];
    },
    RangeError,
    /weight must have C = 2/,
  );
});

test('createEngine rejects bad options', async () => {
  const { createEngine } = await import('../dist/index.js');
  await assert.rejects(createEngine({ threads: 0 }), RangeError);
  await assert.rejects(createEngine({ backend: 'cuda' }), /backend must be one of/);
  await assert.rejects(createEngine({ wasmBuild: 'sse' }), /wasmBuild must be one of/);
});

test('a disposed engine rejects calls clearly', async () => {
  const { createEngine } = await import('../dist/index.js');
  const e = await createEngine({ wasmBuild: 'simd' });
  await e.dispose();
  await assert.rejects(e.crossEntropy(optionsOf(golden.crossEntropy)), /disposed/);
});
