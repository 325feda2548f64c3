// The browser app: the package as a bundler (or the page itself) resolves it, checked by
// shared/check.mjs on 1 and 2 worker threads. The result lands in window.__result.
import * as pkg from 'forgery-losses';
import { check } from '../shared/check.mjs';

check(pkg).then(
  (result) => {
    window.__result = result;
  },
  (error) => {
    window.__result = { failures: [String(error?.stack ?? error)] };
  },
);
