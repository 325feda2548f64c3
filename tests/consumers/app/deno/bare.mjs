// Deno, bare specifier: resolved through package.json and node_modules.
import * as pkg from 'forgery-losses';
import { check } from '../shared/check.mjs';

console.log(JSON.stringify(await check(pkg)));
