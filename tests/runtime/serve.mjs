// A static file server on 127.0.0.1 (an ephemeral port) over the repository, for browser tests.
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.npy': 'application/octet-stream',
  '.css': 'text/css',
};

/** COOP and COEP: a page served with them is cross-origin isolated (SharedArrayBuffer works). */
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** Serves files under `root` (`isolated`: with COOP and COEP headers); resolves to { server, url }. */
export function serve(root, { isolated = false } = {}) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (path.includes('..')) return void res.writeHead(403).end();
    try {
      const body = await readFile(new URL(`.${path}`, root));
      const type = { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' };
      res.writeHead(200, isolated ? { ...type, ...ISOLATION } : type).end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })),
  );
}
