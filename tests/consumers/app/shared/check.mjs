// What every consumer scenario runs against the package as it imported it: the four losses on an
// engine of 1 thread and on one of `threads` threads (every bit must agree), the default-engine
// functions, and `await using`'s dispose hook. Plain JavaScript with no import, so that it runs
// in Node, Deno, Bun, workerd, edge-runtime and a page, bundled or not.

/** Deterministic inputs: features (B, C, H, W), a 0/1 mask with a forged square per image, logits. */
export function makeInputs(B = 2, C = 8, H = 16, W = 16) {
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const features = Float32Array.from({ length: B * C * H * W }, rand);
  const logits = Float32Array.from({ length: B * 2 * H * W }, rand);
  const mask = new Uint8Array(B * H * W);
  for (let b = 0; b < B; b++)
    for (let y = 4 + b; y < 11 + b; y++) for (let x = 5; x < 12; x++) mask[b * H * W + y * W + x] = 1;
  return { features, logits, mask, target: Int32Array.from(mask), shape: [B, C, H, W], B, C, H, W };
}

function sameBits(a, b) {
  if (typeof a === 'number' || typeof b === 'number') return Object.is(a, b);
  if (a === null || b === null) return a === b;
  if (ArrayBuffer.isView(a)) {
    if (!ArrayBuffer.isView(b) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => sameBits(v, b[i]));
  if (typeof a === 'object') {
    const keys = Object.keys(a).filter((k) => k !== 'backend');
    return keys.every((k) => sameBits(a[k], b[k]));
  }
  return a === b;
}

const CALLS = {
  crossEntropy: (i) => ({ logits: i.logits, target: i.target, shape: [i.B, 2, i.H, i.W], weight: [0.3, 0.7] }),
  patchContrast: (i) => ({ features: i.features, mask: i.mask, shape: i.shape, patchSize: 4, variant: 'exact' }),
  infoNCE: (i) => ({ features: i.features, mask: i.mask, shape: i.shape, sample: { maxPerClass: 20, seed: 1 } }),
  cflObjective: (i) => ({ logits: i.logits, features: i.features, mask: i.mask, shape: i.shape }),
};

/** Runs the checks; resolves to a summary whose `failures` lists what went wrong (empty: all passed). */
export async function check(pkg, { threads = 2 } = {}) {
  const failures = [];
  const inputs = makeInputs();
  const one = await pkg.createEngine({ threads: 1, backend: 'wasm' });
  const many = await pkg.createEngine({ threads, backend: 'wasm' });
  const losses = {};
  for (const [name, options] of Object.entries(CALLS)) {
    const a = await one[name](options(inputs));
    const b = await many[name](options(inputs));
    const top = await pkg[name](options(inputs));
    losses[name] = a.loss;
    if (typeof a.loss !== 'number' || !Number.isFinite(a.loss)) failures.push(`${name}: loss ${a.loss}`);
    if (!a.grad) failures.push(`${name}: no gradient`);
    if (!sameBits(a, b)) failures.push(`${name}: threads ${threads} differs from threads 1`);
    if (!sameBits(a, top)) failures.push(`${name}: the default engine differs from an engine of 1 thread`);
  }
  const info = { backend: many.info.backend, threads: many.info.threads, notes: many.info.notes };
  await one.dispose();
  // `await using` calls Symbol.asyncDispose (TypeScript's output: Symbol.for('Symbol.asyncDispose') where a
  // runtime has no such symbol, e.g. a vm context of Node 22).
  const asyncDispose = Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose');
  if (typeof many[asyncDispose] !== 'function') failures.push('engine has no Symbol.asyncDispose');
  else await many[asyncDispose]();
  await many.patchContrast(CALLS.patchContrast(inputs)).then(
    () => failures.push('a disposed engine still answers'),
    () => {},
  );
  return { ...info, losses, failures };
}
