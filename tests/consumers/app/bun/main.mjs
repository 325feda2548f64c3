// Bun: the bare specifier.
import * as pkg from 'forgery-losses';
import { check } from '../shared/check.mjs';

console.log(JSON.stringify(await check(pkg)));
