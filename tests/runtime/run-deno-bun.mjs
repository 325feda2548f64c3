// Runs the smoke suite under Deno or Bun (both read fixtures with node:fs) and prints one line
// of JSON for tests/runtimes.test.mjs.
import { readFileSync } from 'node:fs';
import * as pkg from '../../dist/index.js';
import { runSmoke } from './smoke.mjs';

const fixtures = new URL('../fixtures/', import.meta.url);
const loadCase = async (loss, name) => JSON.parse(readFileSync(new URL(`${loss}/${name}.json`, fixtures), 'utf8'));
const result = await runSmoke(pkg, loadCase);
console.log(JSON.stringify(result));
