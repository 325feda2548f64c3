// The ```js blocks of README.md and of the pages it links (docs/*.md), as programs that run in the
// consumer project exactly as written. README.md says where the examples' inputs come from (the
// demo's sample, support/sample.mjs), so a block that uses `features`, `mask`, `logits`, `target`,
// `B`, `C`, `H` or `W` without declaring them gets them from that generator in a hidden preamble.
// A block with no import continues its page's first block that has one (an import line, or the
// example it continues), which runs before it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Every ```js block of `file`: { file, line, code }. */
function blocks(root, file) {
  const out = [];
  let open = null;
  readFileSync(join(root, file), 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (open === null && /^```js\s*$/.test(text)) open = { file, line: i + 1, lines: [] };
      else if (open !== null && /^```\s*$/.test(text)) {
        out.push({ file: open.file, line: open.line, code: open.lines.join('\n') });
        open = null;
      } else if (open !== null) open.lines.push(text);
    });
  return out;
}

const INPUTS = ['features', 'mask', 'logits', 'target', 'B', 'C', 'H', 'W'];
const declares = (code, name) =>
  new RegExp(`\\b(?:const|let|var|import)\\b[^;=]*?[\\s{,]${name}\\b[^;]*?(=|from)`).test(code);
const uses = (code, name) => new RegExp(`(?<![\\w.'])${name}\\b(?!\\s*:)`).test(code);
const hasImport = (code) => /^\s*import\b/m.test(code);

/** The programs: { name, source } for every block of README.md and docs/*.md. */
export function docPrograms(root) {
  const files = [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
  const sample = pathToFileURL(join(root, 'support/sample.mjs')).href;
  const programs = [];
  for (const file of files) {
    const all = blocks(root, file);
    const head = all.find((b) => hasImport(b.code));
    for (const block of all) {
      const parts = block === head || hasImport(block.code) || !head ? [block.code] : [head.code, block.code];
      const code = parts.join('\n');
      const missing = INPUTS.filter((name) => uses(code, name) && !declares(code, name));
      const preamble =
        missing.length === 0
          ? ''
          : `import { makeSample as __makeSample } from ${JSON.stringify(sample)};\n` +
            `const { ${missing.map((n) => `${n}: ${n}`).join(', ')} } = (() => {\n` +
            '  const { features, logits, mask, shape: [B, C, H, W] } = __makeSample();\n' +
            '  return { features, logits, mask, target: Int32Array.from(mask), B, C, H, W };\n' +
            '})();\n';
      programs.push({ name: `${block.file}:${block.line}`, source: `${preamble}${code}\n` });
    }
  }
  return programs;
}
