// Runs a task (protocol.ts) on a wasm instance as a generator: each `next()` runs one step and
// yields its work units, the return value is the task's result; stopping early (`return()`)
// frees its memory. The calling thread drives it (executors/inline.ts), and so does a worker
// (src/worker.ts), each its own way (docs/design.md §8).

import { ceTargets, crossEntropy } from './ce-tasks.js';
import type { WasmInstance } from './instance.js';
import { nceBackward, nceGather, ncePart } from './nce-tasks.js';
import { patchBackward, patchPart, patchPool } from './patch-tasks.js';
import { isPart, type ResultOf, type Task, type TaskResult } from './protocol.js';

function* steps(inst: WasmInstance, task: Task): Generator<number, TaskResult> {
  switch (task.kind) {
    case 'patchPool':
      return yield* patchPool(inst, task);
    case 'patchPart':
      return yield* patchPart(inst, task);
    case 'patchBackward':
      return patchBackward(inst, task);
    case 'nceGather':
      return yield* nceGather(inst, task);
    case 'ncePart':
      return yield* ncePart(inst, task);
    case 'nceBackward':
      return nceBackward(inst, task);
    case 'ceTargets':
      return ceTargets(inst, task);
    case 'crossEntropy':
      return yield* crossEntropy(inst, task);
  }
}

export function* taskSteps<T extends Task>(inst: WasmInstance, task: T): Generator<number, ResultOf<T>> {
  const ws = inst.arena;
  const part = isPart(task);
  if (!part) ws.reset();
  ws.reserve(task.memoryBytes, task.kind === 'crossEntropy' ? 'crossEntropy' : `${task.kind} (one image)`);
  let ok = false;
  try {
    // The steps of a task of this kind return its kind's result (protocol.ts ResultOf).
    const result = (yield* steps(inst, task)) as ResultOf<T>;
    ok = true;
    return result;
  } finally {
    // A finished part keeps its operands pinned for the next part of its image.
    if (part && ok) ws.release();
    else ws.reset();
  }
}

/** Runs a task to its end at once (a sync call, or a worker answering one). */
export function runTask<T extends Task>(inst: WasmInstance, task: T, onStep?: () => void): ResultOf<T> {
  const steps = taskSteps(inst, task);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    onStep?.();
  }
}
