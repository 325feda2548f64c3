// A static file server on 127.0.0.1 (an ephemeral port) for the browser scenarios: it logs every
// file it serves (the size budget sums what a page loaded) and can add response headers (a
// Content-Security-Policy that forbids blob: workers).
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
};

/** Serves `root`; `headers(path)` adds headers to a response. Resolves to { url, served, close }. */
export function serve(root, headers = () => ({})) {
  const served = [];
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (path.includes('..')) return void res.writeHead(403).end();
    try {
      const body = await readFile(join(root, path));
      served.push({ path, body });
      res
        .writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', ...headers(path) })
        .end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        served,
        close: () => new Promise((done) => server.close(done)),
      }),
    ),
  );
}
