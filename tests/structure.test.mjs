// The shape of src/ that keeps the runtime holdable (docs/design.md §1, §11): no function over 80
// lines (the WGSL sources aside), no import circle (type-only and dynamic imports included), no
// mutable export, and a test entry that reaches into nothing. The sources are read as text, with
// comments and string contents blanked out; Biome's formatting makes the shapes regular.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;
const MAX_LINES = 80;

const files = readdirSync(SRC, { recursive: true })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => join(SRC, f));

/** The source with comments and the insides of strings and templates blanked (newlines kept). */
function blank(source) {
  let out = '';
  const stack = []; // open template literals: the brace depth of each `${`
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i],
      next = source[i + 1];
    const keep = (s) => s.replace(/[^\n]/g, ' ');
    if (ch === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      out += keep(source.slice(i, end < 0 ? source.length : end));
      i = (end < 0 ? source.length : end) - 1;
    } else if (ch === '/' && next === '*') {
      const end = source.indexOf('*/', i) + 2;
      out += keep(source.slice(i, end));
      i = end - 1;
    } else if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== ch) j += source[j] === '\\' ? 2 : 1;
      out += `${ch}${keep(source.slice(i + 1, j))}${ch}`;
      i = j;
    } else if (ch === '/' && /(^|[(,=:[!&|?{};]|\breturn)\s*$/.test(out)) {
      // A regular expression literal (it may hold quotes and brackets): to its closing slash.
      let j = i + 1,
        inClass = false;
      while (j < source.length && (inClass || source[j] !== '/')) {
        if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        j += source[j] === '\\' ? 2 : 1;
      }
      out += `/${keep(source.slice(i + 1, j))}/`;
      i = j;
    } else if (ch === '`' || (ch === '}' && stack.length > 0 && stack.at(-1) === depth)) {
      // A template's text, up to its end or to a `${`, whose code is read as code.
      if (ch === '}') stack.pop();
      let j = i + 1;
      while (j < source.length && source[j] !== '`' && !(source[j] === '$' && source[j + 1] === '{'))
        j += source[j] === '\\' ? 2 : 1;
      out += `${ch}${keep(source.slice(i + 1, j))}`;
      if (source[j] === '$') {
        stack.push(depth);
        out += '${';
        i = j + 1;
      } else {
        out += '`';
        i = j;
      }
    } else {
      if (ch === '{') depth++;
      else if (ch === '}') depth--;
      out += ch;
    }
  }
  return out;
}

/** The index of the bracket that closes (step 1) or opens (step −1) the one at `at`. */
function match(code, at, step) {
  const [open, close] =
    step > 0 ? [code[at], { '(': ')', '{': '}' }[code[at]]] : [code[at], { ')': '(', '}': '{' }[code[at]]];
  let depth = 0;
  for (let i = at; i >= 0 && i < code.length; i += step) {
    if (code[i] === open) depth++;
    else if (code[i] === close && --depth === 0) return i;
  }
  return -1;
}

const lineOf = (code, at) => code.slice(0, at).split('\n').length;
const CONTROL = /\b(if|for|while|switch|catch|with)\s*$/;

/** Functions (declarations, methods, arrows with a body): [first line, last line]. */
function functions(code) {
  const found = [];
  for (let i = 0; i < code.length; i++) {
    if (code[i] !== '{') continue;
    const before = code.slice(0, i).trimEnd();
    let start = -1;
    if (before.endsWith('=>')) {
      // The arrow's parameters: back to their '(' (or a bare name), on the line they start.
      const params = before.slice(0, -2).trimEnd();
      start = params.endsWith(')') ? match(code, params.length - 1, -1) : params.length - 1;
    } else {
      // `name(…)` or `name(…): Type` before the body: a function or a method, not a statement.
      const close = /\)\s*(:[^;{}=]*(\{[^{}]*\}[^;{}=]*)?)?$/.exec(before);
      // Not after `):`: that brace opens a return type, the body comes after it.
      if (!close || /^:\s*$/.test(close[1] ?? '')) continue;
      const open = match(code, close.index, -1);
      if (open < 0 || CONTROL.test(code.slice(0, open))) continue;
      start = open;
    }
    const end = match(code, i, 1);
    if (start >= 0 && end > 0) found.push([lineOf(code, start), lineOf(code, end)]);
  }
  return found;
}

test(`no function in src/ is over ${MAX_LINES} lines (the WGSL sources of webgpu/shaders/ aside)`, () => {
  const long = [];
  for (const file of files) {
    if (file.includes('/webgpu/shaders/')) continue;
    for (const [from, to] of functions(blank(readFileSync(file, 'utf8'))))
      if (to - from + 1 > MAX_LINES) long.push(`${relative(SRC, file)}:${from}-${to} (${to - from + 1} lines)`);
  }
  assert.deepEqual(long, []);
});

test('the scanner sees functions of every form (a check of the check above)', () => {
  const code = blank(`function a(x: number): { y: number } {
  return { y: x };
}
class K {
  async #b<T>(t: T): Promise<T> {
    if (t) {
      return t;
    }
    return t;
  }
}
const c = async (x) => {
  const s = \`\${x}{\`;
  return s;
};`);
  assert.deepEqual(functions(code), [
    [1, 3],
    [5, 10],
    [12, 15],
  ]);
});

/** Every module a file imports (static, type-only, re-exported or dynamic), resolved within src/. */
function imports(file) {
  const source = readFileSync(file, 'utf8');
  const specs = [
    ...source.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms),
    ...source.matchAll(/import\('(\.[^']+)'\)/g),
  ].map((m) => m[1]);
  return specs
    .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
    .filter((target) => files.includes(target));
}

test('following every import of src/, type-only and dynamic ones too, finds no circle', () => {
  const graph = new Map(files.map((f) => [f, imports(f)]));
  const circles = [];
  const state = new Map(); // 1: on the path, 2: done
  const visit = (file, path) => {
    state.set(file, 1);
    for (const next of graph.get(file)) {
      if (state.get(next) === 1) circles.push([...path.slice(path.indexOf(next)), next].map((f) => relative(SRC, f)));
      else if (!state.has(next)) visit(next, [...path, next]);
    }
    state.set(file, 2);
  };
  for (const file of files) if (!state.has(file)) visit(file, [file]);
  assert.deepEqual(circles, []);
  // The check sees imports: the engine reaches the wasm layer through the executors.
  assert.ok(graph.get(join(SRC, 'engine.ts')).length > 5);
});

test('src/ exports nothing mutable, and the test entry casts into nothing', () => {
  const mutable = files.filter((f) => /^export\s+(let|var)\s/m.test(readFileSync(f, 'utf8')));
  assert.deepEqual(
    mutable.map((f) => relative(SRC, f)),
    [],
  );
  assert.doesNotMatch(readFileSync(join(SRC, 'testing.ts'), 'utf8'), /as unknown as|\bas any\b/);
});
