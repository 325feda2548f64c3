// The documentation is self-contained: every relative link in README.md, docs/*.md,
// bench/RESULTS.md and tests/fixtures/INDEX.md resolves to a file of the repository (and an
// anchor into a .md file to one of its headings, by GitHub's slug rules), every "docs/<page>.md §N"
// citation names a section of that page, the README stays a front door (≤ 300 lines), and no
// source, test, bench or doc file cites a document that lives outside the repository.
// Run: node --test tests/docs-links.test.mjs
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const README_MAX_LINES = 300;

const docFiles = () => [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
  'bench/RESULTS.md',
  'tests/fixtures/INDEX.md',
];

/** The text outside fenced code blocks, line by line (fence lines and their contents become ''). */
function proseLines(text) {
  let fence = null;
  return text.split('\n').map((line) => {
    const open = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (open && open[1][0] === fence[0] && open[1].length >= fence.length) fence = null;
      return '';
    }
    if (open) {
      fence = open[1];
      return '';
    }
    return line;
  });
}

const withoutCodeSpans = (line) => line.replace(/(`+)[^`]*?\1/g, 'code');

/** `[text](target)` and `![alt](target)`, with an optional title; targets outside code. */
function linksOf(text) {
  const links = [];
  proseLines(text).forEach((line, i) => {
    for (const m of withoutCodeSpans(line).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      links.push({ target: m[1], line: i + 1 });
  });
  return links;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats numbered. */
function anchorsOf(text) {
  const seen = new Map();
  const anchors = new Set();
  for (const line of proseLines(text)) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const plain = m[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/<[^>]+>/g, '')
      .replace(/`/g, '');
    const base = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every broken link of one markdown file, as 'file:line: target (why)'. */
function brokenLinks(file) {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const problems = [];
  for (const { target, line } of linksOf(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, mailto:, …
    const hash = target.indexOf('#');
    const path = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
    const resolved = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
    const where = `${file}:${line}: ${target}`;
    if (!resolved.startsWith(ROOT)) {
      problems.push(`${where} (points outside the repository)`);
      continue;
    }
    if (!existsSync(resolved)) {
      problems.push(`${where} (no such file: ${relative(ROOT, resolved)})`);
      continue;
    }
    if (anchor !== null && resolved.endsWith('.md') && statSync(resolved).isFile()) {
      const anchors = anchorsOf(readFileSync(resolved, 'utf8'));
      if (!anchors.has(anchor)) problems.push(`${where} (no heading with anchor #${anchor})`);
    }
  }
  return problems;
}

test('the link checker sees links, images, anchors and code as GitHub does', () => {
  const sample = [
    '# Title `code` here',
    '## 5.12 Scope `batch`',
    '## Title code here',
    'See [a](docs/a.md#x) and ![img](docs/i.png "t"), not `[b](nope.md)`.',
    '```',
    '[c](inside-fence.md)',
    '# not a heading',
    '```',
  ].join('\n');
  assert.deepEqual(
    linksOf(sample).map((l) => l.target),
    ['docs/a.md#x', 'docs/i.png'],
  );
  assert.deepEqual([...anchorsOf(sample)], ['title-code-here', '512-scope-batch', 'title-code-here-1']);
});

for (const file of docFiles()) {
  test(`${file}: every relative link resolves`, () => {
    const problems = brokenLinks(file);
    assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`);
  });
}

test(`README.md is a front door: at most ${README_MAX_LINES} lines`, () => {
  const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
  assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; move the manual into docs/`);
});

// Documents that are not in the repository, spelled in pieces so that this file does not name them.
const OUTSIDE = [
  { what: ['DESIGN', '.md'].join(''), pattern: new RegExp(['DESIGN', '\\.md'].join('')) },
  { what: ['golden', '/README'].join(''), pattern: new RegExp(['golden', '/README'].join('')) },
  { what: ['spec', ' section'].join(''), pattern: new RegExp(['spec', "(?:'s)? section"].join(''), 'i') },
];
const SCANNED = ['src', 'assembly', 'tests', 'bench', 'docs', 'scripts', 'examples', 'support'];
const SKIPPED = new Set(['tests/fixtures', 'node_modules']);

function* textFiles(dir) {
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (SKIPPED.has(path) || entry.name === 'node_modules') continue;
    if (entry.isDirectory()) yield* textFiles(path);
    else if (entry.isFile()) yield path;
  }
}

/** [path, text] of README.md and every text file under SCANNED (binary files, with a NUL byte, left out). */
function* scannedTexts() {
  const dirs = SCANNED.filter((d) => existsSync(join(ROOT, d)));
  for (const file of ['README.md', ...dirs.flatMap((d) => [...textFiles(d)])]) {
    const bytes = readFileSync(join(ROOT, file));
    if (!bytes.includes(0)) yield [file, bytes.toString('utf8')];
  }
}

/** The section numbers of a doc: '5' and '5.12' for headings '## 5. …' and '### 5.12 …'. */
function sectionsOf(text) {
  const sections = new Set();
  for (const line of proseLines(text)) {
    const m = /^\s{0,3}#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/.exec(line);
    if (m) sections.add(m[1]);
  }
  return sections;
}

test('every "docs/<page>.md §N" citation names a numbered section of that page', () => {
  const problems = [];
  const sections = new Map();
  for (const [file, text] of scannedTexts()) {
    text.split('\n').forEach((line, i) => {
      for (const [, page, section] of line.matchAll(/docs\/([\w.-]+\.md) §(\d+(?:\.\d+)*)/g)) {
        const path = join(ROOT, 'docs', page);
        if (!sections.has(page)) sections.set(page, existsSync(path) ? sectionsOf(readFileSync(path, 'utf8')) : null);
        const known = sections.get(page);
        if (!known) problems.push(`${file}:${i + 1}: docs/${page} does not exist`);
        else if (!known.has(section)) problems.push(`${file}:${i + 1}: docs/${page} has no section ${section}`);
      }
    });
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('no file cites a document outside the repository', () => {
  const problems = [];
  for (const [file, text] of scannedTexts())
    text.split('\n').forEach((line, i) => {
      for (const { what, pattern } of OUTSIDE)
        if (pattern.test(line)) problems.push(`${file}:${i + 1}: cites ${what} (cite docs/ instead)`);
    });
  assert.deepEqual(problems, [], problems.join('\n'));
});
