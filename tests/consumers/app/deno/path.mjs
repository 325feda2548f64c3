// Deno, by path: the default entry's file, as a CDN or a vendored copy gives it.
import * as pkg from '../node_modules/forgery-losses/dist/index.js';
import { check } from '../shared/check.mjs';

console.log(JSON.stringify(await check(pkg)));
