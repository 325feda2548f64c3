// Call semantics (docs/api.md, "Calls, cancellation and progress"): a call owns its inputs when it
// is made, options are strict, threads are bounded, every input of cflObjective is checked before
// any work, long calls can be stopped and watched, and the calling thread's event loop keeps turning.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { blobMask, gaussian, pkg, WASM_BUILD } from './helpers/engine.mjs';

const [B, C, H, W] = [3, 8, 16, 16];
const shape = [B, C, H, W];
const features = () => gaussian(B * C * H * W, 3);
const logits = () => gaussian(B * 2 * H * W, 4);
const mask = () => blobMask(B, H, W, 5);
const u8mask = () => Uint8Array.from(mask());

/** One call per loss, with fresh inputs, and how to spoil those inputs once the call is made. */
const CALLS = {
  crossEntropy: () => {
    const o = { logits: logits(), target: u8mask(), shape: [B, 2, H, W], weight: [0.3, 0.7] };
    return {
      o,
      spoil() {
        o.logits.fill(Number.NaN);
        o.target.fill(7);
        o.weight.fill(0);
      },
    };
  },
  patchContrast: () => {
    const o = { features: features(), mask: u8mask(), shape: [...shape], patchSize: 4, variant: 'exact' };
    return {
      o,
      spoil() {
        o.features.fill(Number.NaN);
        o.mask.fill(255);
        o.shape.fill(1);
      },
    };
  },
  infoNCE: () => {
    const o = { features: features(), mask: mask(), shape, positive: 'mean-exp', sample: { maxPerClass: 20, seed: 1 } };
    return {
      o,
      spoil() {
        o.features.fill(1e30);
        o.mask.fill(0.5);
        o.sample.maxPerClass = 1;
      },
    };
  },
  infoNCEBatch: () => {
    const pristine = [
      [0, 1, 2],
      [3, 4],
      [5, 6, 7],
    ];
    const m = new Float32Array(B * H * W).fill(1);
    pristine.forEach((list, b) => {
      for (const k of list) m[b * H * W + k] = 0;
    });
    const lists = { pristine, forged: [[100, 101], [102], [103, 104, 105]] };
    const o = { features: features(), mask: m, shape, sample: lists, scope: 'batch' };
    return {
      o,
      spoil() {
        o.features.fill(0);
        lists.pristine[0].push(9);
        lists.forged[1].length = 0;
      },
    };
  },
  cflObjective: () => {
    const o = { logits: logits(), features: features(), mask: mask(), shape, patchSize: 4 };
    return {
      o,
      spoil() {
        o.logits.fill(Number.NaN);
        o.features.fill(2);
        o.mask.fill(1);
      },
    };
  },
};
const lossOf = (name) => (name === 'infoNCEBatch' ? 'infoNCE' : name);

function sameResult(actual, expected, what) {
  assert.equal(
    actual.loss instanceof Float32Array ? 'array' : actual.loss,
    expected.loss instanceof Float32Array ? 'array' : expected.loss,
    `${what}: loss`,
  );
  for (const key of ['logits', 'features'])
    if (expected.grad?.[key]) assert.deepEqual(actual.grad[key], expected.grad[key], `${what}: grad.${key}`);
}

describe('a call owns its inputs when it is made', () => {
  for (const threads of [1, 2]) {
    test(`engine, threads ${threads}: every loss gives the result of its inputs at call time`, async () => {
      const e = await pkg.createEngine({ threads, wasmBuild: WASM_BUILD });
      try {
        for (const [name, make] of Object.entries(CALLS)) {
          const expected = await e[lossOf(name)](make().o);
          // Several calls in flight at once: each spoils its inputs right after the call.
          const pending = [0, 1, 2].map(() => {
            const { o, spoil } = make();
            const p = e[lossOf(name)](o);
            spoil();
            return p;
          });
          for (const r of await Promise.all(pending)) sameResult(r, expected, `${name}, threads ${threads}`);
        }
      } finally {
        await e.dispose();
      }
    });
  }

  test("the copies taken by the finite scan are each image's, also where its chunks straddle images", async () => {
    // 5 images of 64,032 floats: the scan's chunks (at most 2¹⁸ floats, what fits above the arena)
    // end inside images, and each is copied into the pieces it covers (validate.ts copyIntoPieces).
    const e = await pkg.createEngine({ wasmBuild: WASM_BUILD });
    try {
      const [b, c, h, w] = [5, 6, 116, 92];
      const chw = c * h * w;
      const f = gaussian(b * chw, 21),
        m = blobMask(b, h, w, 22);
      for (const [fn, extra] of [
        ['patchContrast', { patchSize: 4 }],
        ['infoNCE', {}],
      ]) {
        const batch = await e[fn]({ features: f, mask: m, shape: [b, c, h, w], ...extra });
        for (let img = 0; img < b; img++) {
          const one = await e[fn]({
            features: f.subarray(img * chw, (img + 1) * chw),
            mask: m.subarray(img * h * w, (img + 1) * h * w),
            shape: [1, c, h, w],
            ...extra,
          });
          assert.equal(batch.perImageLoss[img], one.loss, `${fn}: image ${img}`);
        }
      }
    } finally {
      await e.dispose();
    }
  });

  test('top-level functions, before and after the default engine exists: every loss', () => {
    // A fresh process: its first calls run before the default engine has been created.
    const script = `
      import * as pkg from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      const [B, C, H, W] = [2, 4, 8, 8];
      const f = new Float32Array(B * C * H * W).map((_, i) => Math.sin(i));
      const l = new Float32Array(B * 2 * H * W).map((_, i) => Math.cos(i));
      const m = new Uint8Array(B * H * W).map((_, i) => (i % 7 < 3 ? 1 : 0));
      const calls = {
        crossEntropy: () => ({ logits: l.slice(), target: m.slice(), shape: [B, 2, H, W] }),
        patchContrast: () => ({ features: f.slice(), mask: m.slice(), shape: [B, C, H, W] }),
        infoNCE: () => ({ features: f.slice(), mask: m.slice(), shape: [B, C, H, W], positive: 'mean-exp' }),
        cflObjective: () => ({ logits: l.slice(), features: f.slice(), mask: m.slice(), shape: [B, C, H, W] }),
      };
      const own = await pkg.createEngine();
      const expected = {};
      for (const [name, make] of Object.entries(calls)) expected[name] = (await own[name](make())).loss;
      for (const round of ['before the default engine exists', 'after']) {
        const pending = Object.entries(calls).map(([name, make]) => {
          const o = make();
          const p = pkg[name](o);
          for (const v of Object.values(o)) if (ArrayBuffer.isView(v)) v.fill(255);
          o.shape[0] = 1;
          return p.then((r) => [name, r.loss]);
        });
        for (const [name, loss] of await Promise.all(pending))
          if (loss !== expected[name]) throw new Error(round + ': ' + name + ' read its inputs late');
      }
      console.log('ok');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok/);
  });
});

describe('strict options', () => {
  test('an unknown key is a TypeError naming it, with the key probably meant', async () => {
    const { o } = CALLS.patchContrast();
    await assert.rejects(pkg.patchContrast({ ...o, temprature: 1e-30 }), {
      name: 'TypeError',
      message: /patchContrast: unknown option 'temprature'; did you mean 'temperature'\?/,
    });
    await assert.rejects(pkg.createEngine({ thread: 4 }), {
      name: 'TypeError',
      message: /createEngine: unknown option 'thread'; did you mean 'threads'\?/,
    });
    await assert.rejects(
      pkg.crossEntropy({ ...CALLS.crossEntropy().o, labelSmooting: 0.1 }),
      /did you mean 'labelSmoothing'/,
    );
    await assert.rejects(
      pkg.infoNCE({ ...CALLS.infoNCE().o, sample: { maxPerClass: 3, sed: 1 } }),
      /unknown option 'sed'; did you mean 'seed'/,
    );
    await assert.rejects(pkg.createEngine({ webgpuAuto: { marign: 1 } }), /did you mean 'margin'/);
    // Far from every key: no guess.
    await assert.rejects(pkg.cflObjective({ ...CALLS.cflObjective().o, banana: 1 }), (error) => {
      assert.match(error.message, /unknown option 'banana' \(options: /);
      assert.doesNotMatch(error.message, /did you mean/);
      return true;
    });
  });

  test('threads is an integer in [1, 256] or auto, refused at once', async () => {
    for (const threads of [1e6, 0, 257, 2.5, -1, '2', Number.NaN]) {
      const started = Date.now();
      await assert.rejects(pkg.createEngine({ threads }), {
        name: 'RangeError',
        message: /threads must be an integer in \[1, 256\]/,
      });
      assert.ok(Date.now() - started < 1000);
    }
  });

  test('numeric options are numbers, and byte counts in messages are right', async () => {
    await assert.rejects(pkg.createEngine({ maxMemoryBytes: '1e6' }), {
      name: 'TypeError',
      message: /maxMemoryBytes must be a number/,
    });
    const e = await pkg.createEngine({ maxMemoryBytes: 100 });
    try {
      await assert.rejects(e.crossEntropy(CALLS.crossEntropy().o), (error) => {
        const m = /needs about ([\d.]+) (KiB|MiB) \((\d+) bytes\) of wasm memory, over the limit of 100 bytes/.exec(
          error.message,
        );
        assert.ok(m, error.message);
        const bytes = Number(m[3]);
        assert.ok(Math.abs(Number(m[1]) * (m[2] === 'KiB' ? 1024 : 2 ** 20) - bytes) / bytes < 0.01, error.message);
        return true;
      });
    } finally {
      await e.dispose();
    }
  });
});

describe('cflObjective checks all of its inputs before any work', () => {
  test('a NaN logit, a bad weight or a memory limit the cross-entropy part exceeds: rejected, no progress', async () => {
    const e = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD });
    try {
      let progressed = 0;
      const onProgress = () => progressed++;
      const bad = CALLS.cflObjective().o;
      bad.logits[5] = Number.NaN;
      // The logits are checked as they are taken, before the contrastive part runs.
      await assert.rejects(e.cflObjective({ ...bad, onProgress }), /logits\[5\] = NaN: values must be finite/);
      await assert.rejects(
        e.cflObjective({ ...CALLS.cflObjective().o, weight: [1], onProgress }),
        /weight must have C = 2/,
      );
      assert.equal(progressed, 0);
    } finally {
      await e.dispose();
    }
    // Many small images: each image's contrastive part fits 128 KiB, the batch's cross-entropy does not.
    const small = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD, maxMemoryBytes: 128 * 1024 });
    try {
      let progressed = 0;
      const [b, c, h, w] = [16, 1, 32, 32];
      const o = { logits: gaussian(b * 2 * h * w, 1), features: gaussian(b * c * h * w, 2), mask: blobMask(b, h, w) };
      await assert.rejects(
        small.cflObjective({ ...o, shape: [b, c, h, w], onProgress: () => progressed++ }),
        /crossEntropy needs about [\d.]+ KiB \(\d+ bytes\) of wasm memory, over the limit of 128 KiB/,
      );
      assert.equal(progressed, 0);
      // Its contrastive part alone fits.
      const { features, mask } = o;
      assert.ok(Number.isFinite((await small.patchContrast({ features, mask, shape: [b, c, h, w] })).loss));
    } finally {
      await small.dispose();
    }
  });
});

// About a second of kernel work on one thread: 4 images of 3,136 patches at C = 48.
const LONG = { shape: [4, 48, 224, 224], patchSize: 4 };
const longInputs = () => ({
  ...LONG,
  features: gaussian(4 * 48 * 224 * 224, 7),
  mask: blobMask(4, 224, 224, 8),
});

describe('long calls can be stopped and watched', () => {
  for (const threads of [1, 2]) {
    test(`threads ${threads}: progress is monotone and complete; abort answers at once and the next call is exact`, async () => {
      const e = await pkg.createEngine({ threads, wasmBuild: WASM_BUILD });
      try {
        const inputs = longInputs();
        const reports = [];
        const expected = await e.patchContrast({ ...inputs, onProgress: (done, total) => reports.push([done, total]) });
        assert.ok(reports.length >= 8, `only ${reports.length} progress reports`);
        const total = reports[0][1];
        for (let i = 0; i < reports.length; i++) {
          assert.equal(reports[i][1], total, 'total never changes');
          if (i > 0) assert.ok(reports[i][0] >= reports[i - 1][0], 'done never decreases');
        }
        assert.equal(reports.at(-1)[0], total, 'the last report is done === total');

        // Abort once a fifth of the work is done.
        const controller = new AbortController();
        let abortedAt = 0;
        const pending = e.patchContrast({
          ...inputs,
          signal: controller.signal,
          onProgress: (done) => {
            if (!abortedAt && done > total / 5) {
              abortedAt = performance.now();
              controller.abort();
            }
          },
        });
        await assert.rejects(pending, (error) => {
          assert.equal(error.name, 'AbortError');
          return true;
        });
        const latency = performance.now() - abortedAt;
        assert.ok(abortedAt > 0 && latency < 150, `rejected ${latency.toFixed(0)} ms after the abort`);
        // The engine is exact afterwards (its workers dropped their jobs and memory).
        const again = await e.patchContrast(inputs);
        assert.equal(again.loss, expected.loss);
        assert.deepEqual(again.grad.features, expected.grad.features);
      } finally {
        await e.dispose();
      }
    });
  }

  test('an already-aborted signal rejects with its reason before any work', async () => {
    const e = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD });
    try {
      let progressed = 0;
      const signal = AbortSignal.abort(new Error('stopped by the caller'));
      for (const [name, make] of Object.entries(CALLS)) {
        await assert.rejects(
          e[lossOf(name)]({ ...make().o, signal, onProgress: () => progressed++ }),
          /stopped by the caller/,
        );
      }
      await assert.rejects(pkg.infoNCE({ ...CALLS.infoNCE().o, signal: AbortSignal.abort() }), { name: 'AbortError' });
      assert.equal(progressed, 0);
      await assert.rejects(e.infoNCE({ ...CALLS.infoNCE().o, signal: 'abort' }), {
        name: 'TypeError',
        message: /signal must be an AbortSignal/,
      });
    } finally {
      await e.dispose();
    }
  });

  test('a signal that outlives its calls (one for a whole training run) keeps no listener', async () => {
    const e = await pkg.createEngine({ threads: 2, wasmBuild: WASM_BUILD });
    try {
      const { signal } = new AbortController();
      for (const [name, make] of Object.entries(CALLS)) await e[lossOf(name)]({ ...make().o, signal });
      assert.equal(getEventListeners(signal, 'abort').length, 0);
    } finally {
      await e.dispose();
    }
  });

  test('a throwing onProgress fails its call, and the engine goes on', async () => {
    const e = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD });
    try {
      const { o } = CALLS.patchContrast();
      await assert.rejects(
        e.patchContrast({
          ...o,
          onProgress: () => {
            throw new Error('from the callback');
          },
        }),
        /from the callback/,
      );
      assert.ok(Number.isFinite((await e.patchContrast(o)).loss));
    } finally {
      await e.dispose();
    }
  });

  test('threads 1: the event loop turns at least every 50 ms during a long call', async () => {
    const e = await pkg.createEngine({ threads: 1, wasmBuild: WASM_BUILD });
    try {
      const inputs = longInputs();
      let last = performance.now(),
        worst = 0,
        ticks = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
        ticks++;
      }, 1);
      const started = performance.now();
      const pending = e.patchContrast(inputs);
      // From here on: the call has taken its inputs (one copy and a scan, done before it returned).
      last = performance.now();
      worst = 0;
      await pending;
      const took = performance.now() - started;
      clearInterval(timer);
      assert.ok(took > 200, `the call took only ${took.toFixed(0)} ms: too short to tell`);
      assert.ok(ticks > took / 60, `${ticks} timer ticks in ${took.toFixed(0)} ms`);
      assert.ok(worst < 80, `the event loop stalled for ${worst.toFixed(0)} ms`);
    } finally {
      await e.dispose();
    }
  });

  test("memoryBytes() counts the workers' wasm memory", async () => {
    const two = await pkg.createEngine({ threads: 2, wasmBuild: WASM_BUILD });
    try {
      // Before a call the workers have reported nothing; after one, each its instance's memory.
      const before = two.memoryBytes();
      await two.patchContrast(CALLS.patchContrast().o);
      assert.ok(two.memoryBytes() >= before + 2 * 65536, `${two.memoryBytes()} vs ${before} before the call`);
    } finally {
      await two.dispose();
    }
  });
});
