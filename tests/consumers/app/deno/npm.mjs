// Deno, npm: specifier (resolved from the project's node_modules).
import * as pkg from 'npm:forgery-losses';
import { check } from '../shared/check.mjs';

console.log(JSON.stringify(await check(pkg)));
