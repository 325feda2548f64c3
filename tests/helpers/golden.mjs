// Loading the golden cases (tests/fixtures, schema in docs/spec.md §2) in Node; the comparisons live in
// compare.mjs and are re-exported here.
import { readdirSync, readFileSync } from 'node:fs';

export * from './compare.mjs';

const FIXTURES = new URL('../fixtures/', import.meta.url);

export function loadCases(loss) {
  const dir = new URL(`${loss}/`, FIXTURES);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(new URL(f, dir), 'utf8')));
}

export function loadCase(loss, name) {
  return JSON.parse(readFileSync(new URL(`${loss}/${name}.json`, FIXTURES), 'utf8'));
}
