// The worker side of the pool (runtime/executors/pool.ts): instantiates the posted module with its
// own memory, then runs one task (runtime/wasm/protocol.ts) at a time. An async call's task runs
// step by step: the worker posts each step's work, yields between steps so that an 'abort' message
// can reach it, and transfers the results back. A sync call's task runs to its end and its answer
// goes into the reply box that came with it (runtime/executors/reply.ts).

import { Slicer } from './runtime/control.js';
import { beat, writeFailure, writeReply } from './runtime/executors/reply.js';
import { PAGE } from './runtime/wasm/arena.js';
import { WasmInstance } from './runtime/wasm/instance.js';
import { resultTransfer, type Task } from './runtime/wasm/protocol.js';
import { runTask, taskSteps } from './runtime/wasm/run-task.js';

type Reply = { box: SharedArrayBuffer; bell: Int32Array };

type Message =
  | { type: 'init'; module: WebAssembly.Module }
  | { type: 'task'; task: Task; spares?: ArrayBuffer[]; reply?: Reply }
  | { type: 'abort' }
  | { type: 'box'; box: SharedArrayBuffer };

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
let instance: WasmInstance | undefined;
/** Set by an 'abort' for the running task; a task starts with it clear. */
let aborted = false;
/** Resolves with the larger box the calling thread sends for a result that did not fit. */
let nextBox: ((box: SharedArrayBuffer) => void) | undefined;

const pages = (inst: WasmInstance) => inst.arena.memoryBytes() / PAGE;
const failure = (error: unknown) => {
  const e = error as Error;
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error) };
};

/** An async call's task: step by step, with progress, abortable. */
async function runSteps(inst: WasmInstance, task: Task): Promise<void> {
  aborted = false;
  const steps = taskSteps(inst, task);
  const slicer = new Slicer();
  const memoryBytes = () => inst.arena.memoryBytes();
  let work = 0;
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) {
        if (work > 0) port.post({ type: 'progress', work });
        port.post({ type: 'result', result: next.value, memoryBytes: memoryBytes() }, resultTransfer(next.value));
        return;
      }
      work += next.value;
      if (!slicer.due()) continue;
      port.post({ type: 'progress', work });
      work = 0;
      await slicer.yield();
      if (aborted) {
        port.post({ type: 'aborted', memoryBytes: memoryBytes() });
        return;
      }
    }
  } catch (error) {
    port.post({ type: 'error', ...failure(error), memoryBytes: memoryBytes() });
  } finally {
    steps.return(undefined as never);
  }
}

/** A sync call's task: to its end, the answer into the reply box (a larger one when it does not fit). */
async function answer(inst: WasmInstance, task: Task, { box, bell }: Reply): Promise<void> {
  let result: ReturnType<typeof runTask>;
  try {
    result = runTask(inst, task, () => beat(box));
  } catch (error) {
    writeFailure(box, bell, error, pages(inst));
    return;
  }
  let into = box;
  while (!writeReply(into, bell, task, result, pages(inst)))
    into = await new Promise<SharedArrayBuffer>((resolve) => (nextBox = resolve));
  // The result's arrays were copied into the box: they can hold the next part's results.
  inst.parts.donate(resultTransfer(result));
}

port.listen(async (message) => {
  if (message.type === 'init') {
    instance = await WasmInstance.create(message.module);
    port.post({ type: 'ready' });
  } else if (message.type === 'abort') {
    aborted = true;
  } else if (message.type === 'box') {
    nextBox?.(message.box);
  } else if (instance) {
    if (message.spares) instance.parts.donate(message.spares);
    if (message.reply) await answer(instance, message.task, message.reply);
    else await runSteps(instance, message.task);
  }
});
