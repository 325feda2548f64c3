// Whether the calling thread may block on Atomics.wait (Node, Deno, Bun, a Web Worker) with memory
// it shares with its workers: then a sync call runs on the workers; else (a browser's main thread,
// a page that is not cross-origin isolated) it runs in the calling thread.

import { canShare } from '../copies.js';

function probe(): string | null {
  if (!canShare) return 'this page is not cross-origin isolated (no SharedArrayBuffer)';
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return null;
  } catch {
    return 'this thread may not block on Atomics.wait (a browser main thread)';
  }
}

/** Why a sync call cannot wait for workers here, or null when it can. */
export const cannotBlock: string | null = probe();
