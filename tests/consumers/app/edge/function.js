// A Vercel edge function's code (edge-runtime): the package resolved with the `edge-light`
// condition and bundled as a script whose .wasm imports read the modules the host binds.
import * as pkg from 'forgery-losses';
import { check } from '../shared/check.mjs';

globalThis.runChecks = () => check(pkg).catch((error) => ({ failures: [String(error?.stack ?? error)] }));
