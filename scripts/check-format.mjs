// Format check for what `biome check` cannot parse: AssemblyScript puts decorators (@inline) on
// functions, which Biome's TypeScript parser refuses, so assembly/ is formatted through stdin with
// formatWithErrors (biome.json) and compared here. Also holds every source line to 120 columns,
// which the formatter cannot do for long strings and comments.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const biome = new URL('../node_modules/.bin/biome', import.meta.url).pathname;
const MAX_COLUMNS = 120;

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

const problems = [];
for (const file of walk('assembly')) {
  const source = readFileSync(file, 'utf8');
  const formatted = execFileSync(biome, ['format', `--stdin-file-path=${file}`], {
    input: source,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  if (formatted !== source) problems.push(`${file}: not formatted (npx biome format --write assembly)`);
}
for (const file of [...walk('src'), ...walk('assembly')]) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if ([...line].length > MAX_COLUMNS) problems.push(`${file}:${i + 1}: ${[...line].length} columns`);
    });
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
