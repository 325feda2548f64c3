// A Cloudflare Worker (workerd): the package resolved with the `workerd` condition, bundled as
// wrangler does; its .wasm imports become the worker's wasm modules. Answers with the checks.
import * as pkg from 'forgery-losses';
import { check } from '../shared/check.mjs';

export default {
  async fetch() {
    const result = await check(pkg).catch((error) => ({ failures: [String(error?.stack ?? error)] }));
    return Response.json(result);
  },
};
