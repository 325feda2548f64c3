// The default entry's workers (Node, Deno, Bun, and a page that imports dist/index.js as is):
// dist/worker.js, the file beside the entry, as a module Web Worker where the runtime has one,
// else through node:worker_threads (Node has no global Worker). The node: modules are imported
// only on that path, so Deno, Bun and browsers never load them.

import { navigatorCores, type Platform, startWebWorker } from './spawn.js';

export function nodePlatform(workerUrl: URL): Platform {
  return {
    spawn: async (events) => {
      if (typeof (globalThis as { Worker?: unknown }).Worker === 'function') return startWebWorker(workerUrl, events);
      const { Worker: NodeWorker } = await import('node:worker_threads');
      // By default a worker inherits the process's flags, and Node refuses some of them in a worker
      // (--input-type of node -e scripts, V8 flags such as --experimental-wasm-relaxed-simd). The
      // worker needs none: V8 flags are process-wide, and the module arrives compiled.
      const w = new NodeWorker(workerUrl, { execArgv: [] });
      w.on('message', (data) => events.message(data));
      w.on('error', (e) => events.died(e.message));
      w.on('exit', (code) => events.died(`exit code ${code}`));
      return {
        post: (m, t) => w.postMessage(m, t ?? []),
        terminate: () => void w.terminate(),
        hold: (busy) => (busy ? w.ref() : w.unref()),
      };
    },
    cores: async () => {
      const cores = navigatorCores();
      if (cores) return cores;
      return (await import('node:os').catch(() => undefined))?.availableParallelism?.();
    },
  };
}
