// The worker side of the pool (runtime/pool.ts): instantiates the posted module with its own
// memory, then runs one per-image job per message and transfers the results back.

import { type ImageJob, runImageJob, transferList } from './losses/imageJobs';
import { instantiateKernels, type Kernels } from './runtime/kernels';
import { Workspace } from './runtime/workspace';

type Message = { type: 'init'; module: WebAssembly.Module } | { type: 'job'; job: ImageJob } | { type: 'crash' };

interface Channel {
  post(message: unknown, transfer?: ArrayBuffer[]): void;
  listen(handler: (message: Message) => void): void;
}

/** Web Workers (browsers, Deno, Bun) have a global postMessage; Node's worker_threads do not. */
async function channel(): Promise<Channel> {
  const self = globalThis as unknown as {
    postMessage?: (m: unknown, t?: ArrayBuffer[]) => void;
    onmessage: ((e: MessageEvent) => void) | null;
  };
  if (typeof self.postMessage === 'function') {
    const post = self.postMessage.bind(self);
    return {
      post: (m, t) => post(m, t ?? []),
      listen: (h) => {
        self.onmessage = (e) => h(e.data as Message);
      },
    };
  }
  const { parentPort } = await import('node:worker_threads');
  if (!parentPort) throw new Error('forgery-losses: worker.js must run as a worker');
  return { post: (m, t) => parentPort.postMessage(m, t ?? []), listen: (h) => parentPort.on('message', h) };
}

const port = await channel();
let kernels: Kernels | undefined;
let workspace: Workspace | undefined;
let crashOnNextJob = false;

port.listen(async (message) => {
  if (message.type === 'init') {
    kernels = await instantiateKernels(message.module);
    workspace = new Workspace(kernels);
    port.post({ type: 'ready' });
  } else if (message.type === 'crash') {
    crashOnNextJob = true;
  } else if (crashOnNextJob) {
    // Test hook: die in the middle of a job, as a thread that fails would.
    setTimeout(() => {
      throw new Error('forgery-losses: worker crash requested by a test');
    });
  } else if (kernels && workspace) {
    try {
      const result = runImageJob(kernels, workspace, message.job);
      port.post({ type: 'result', result }, transferList(result));
    } catch (error) {
      const e = error as Error;
      port.post({ type: 'error', name: e?.name ?? 'Error', message: e?.message ?? String(error) });
    }
  }
});
