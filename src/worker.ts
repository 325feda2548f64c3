// The worker side of the pool (runtime/pool.ts): instantiates the posted module with its own
// memory, then runs one task (runtime/tasks.ts) at a time, step by step: it posts each step's
// work, yields between steps so that an 'abort' message can reach it, and transfers the results
// back.

import { Slicer } from './runtime/control.js';
import { instantiateKernels, type Kernels } from './runtime/kernels.js';
import { resultTransfer, type Task, taskSteps } from './runtime/tasks.js';
import { Workspace } from './runtime/workspace.js';

type Message =
  | { type: 'init'; module: WebAssembly.Module }
  | { type: 'task'; task: Task; spares?: ArrayBuffer[] }
  | { type: 'abort' };

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
/** Set by an 'abort' for the running task; a task starts with it clear. */
let aborted = false;

async function runTask(k: Kernels, ws: Workspace, task: Task): Promise<void> {
  aborted = false;
  const steps = taskSteps(k, ws, task);
  const slicer = new Slicer();
  let work = 0;
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) {
        if (work > 0) port.post({ type: 'progress', work });
        port.post({ type: 'result', result: next.value, memoryBytes: ws.memoryBytes() }, resultTransfer(next.value));
        return;
      }
      work += next.value;
      if (!slicer.due()) continue;
      port.post({ type: 'progress', work });
      work = 0;
      await slicer.yield();
      if (aborted) {
        port.post({ type: 'aborted', memoryBytes: ws.memoryBytes() });
        return;
      }
    }
  } catch (error) {
    const e = error as Error;
    port.post({
      type: 'error',
      name: e?.name ?? 'Error',
      message: e?.message ?? String(error),
      memoryBytes: ws.memoryBytes(),
    });
  } finally {
    steps.return(undefined as never);
  }
}

port.listen(async (message) => {
  if (message.type === 'init') {
    kernels = await instantiateKernels(message.module);
    workspace = new Workspace(kernels);
    port.post({ type: 'ready' });
  } else if (message.type === 'abort') {
    aborted = true;
  } else if (kernels && workspace) {
    if (message.spares) workspace.donate(message.spares);
    await runTask(kernels, workspace, message.task);
  }
});
