// The browser demo's server (what `npm run demo:web` runs after the build): the repository root as
// static files on 127.0.0.1, so the page at /examples/web/ can import /dist/index.js (which starts
// /dist/worker.js beside it) and fetch /sample/*.npy. Port: $PORT, or an ephemeral one when unset
// or 0. Prints the page's URL; Ctrl-C (SIGINT) or SIGTERM closes it and the process exits 0.
import { existsSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGE = '/examples/web/';
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.npy': 'application/octet-stream',
};

/** The file under `root` that a request path names, or null when it leaves the root or names a dotfile. */
function fileFor(root, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  const file = resolve(root, `.${decoded}`);
  const rel = relative(root, file);
  if (rel.startsWith('..') || rel.split(sep).some((part) => part.startsWith('.'))) return null;
  return decoded.endsWith('/') ? join(file, 'index.html') : file;
}

/** Starts the server; resolves to { server, url, pageUrl, close() }. */
export function startServer({ root = ROOT, port = 0, host = '127.0.0.1' } = {}) {
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (pathname === '/' || pathname === PAGE.slice(0, -1)) return void res.writeHead(302, { location: PAGE }).end();
    const file = fileFor(root, pathname);
    if (!file) return void res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden\n');
    try {
      if ((await stat(file)).isDirectory()) return void res.writeHead(302, { location: `${pathname}/` }).end();
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': body.length,
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const url = `http://${host}:${server.address().port}`;
      const close = () =>
        new Promise((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
      resolvePromise({ server, url, pageUrl: `${url}${PAGE}`, close });
    });
  });
}

/**
 * Bundles the training panel (live-training.mjs) with its TF.js into build/ (esbuild, a
 * devDependency): TF.js ships no module graph that a browser can import without a bundler.
 */
export async function bundleLiveTraining() {
  const esbuild = await import('esbuild');
  const outdir = fileURLToPath(new URL('build/', import.meta.url));
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: [fileURLToPath(new URL('live-training.mjs', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    splitting: true,
    outdir,
    logLevel: 'error',
  });
}

async function main() {
  const port = Number(process.env.PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT must be an integer in [0, 65535]; got ${process.env.PORT}`);
    process.exitCode = 2;
    return;
  }
  if (!existsSync(join(ROOT, 'dist', 'index.js')))
    console.error('dist/index.js is missing: run `npm run build` first (npm run demo:web does).');
  await bundleLiveTraining();
  const { pageUrl, close } = await startServer({ port });
  console.log(`forgery-losses browser demo: ${pageUrl}`);
  console.log('(Ctrl-C to stop)');
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    close().then(() => console.log(`stopped (${signal})`));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error) => {
    console.error(error?.message ?? error);
    process.exitCode = 1;
  });
}
