// The two drivers of a plan (plan.ts). `driveAsync` awaits each task's result, so the calling
// thread stays free (async calls); `driveSync` runs a call's plans to completion, blocking until
// the tasks have answered (sync calls). Both start the tasks in the plan's order and hand each
// result back to the plan that asked for it; a plan never sees which driver ran it.

import type { CallControl } from '../control.js';
import type { ResultOf, Task, TaskResult } from '../wasm/protocol.js';
import type { Plan } from './plan.js';

/** Runs tasks with a promise of each result (the inline executor, the worker pool). */
export interface AsyncRunner {
  run<T extends Task>(task: T, transfer: ArrayBuffer[]): Promise<ResultOf<T>>;
}

/**
 * Runs tasks while the calling thread waits for them: `post` starts one (or queues it) and names
 * it; `ready` says whether it has answered; `take` gives its result (or throws its error);
 * `waitAny` blocks until some posted task answers; `drain` waits for every posted one.
 */
export interface SyncRunner {
  post(task: Task, transfer: ArrayBuffer[]): number;
  ready(handle: number): boolean;
  take(handle: number): TaskResult;
  waitAny(): void;
  drain(): void;
}

export async function driveAsync<R>(plan: Plan<R>, runner: AsyncRunner, control: CallControl): Promise<R> {
  const running = new Map<number, Promise<TaskResult>>();
  try {
    let answer: TaskResult | undefined;
    for (;;) {
      const next = plan.next(answer);
      if (next.done) return next.value;
      answer = undefined;
      const command = next.value;
      if (command.op === 'start') {
        const task = runner.run(command.task, command.transfer);
        // A later task may fail while an earlier one is awaited: its failure stops the call at once
        // (the other tasks are dropped), rather than surfacing as an unhandled rejection.
        task.catch((error) => control.stop(error));
        running.set(command.id, task);
      } else {
        answer = await running.get(command.id);
        running.delete(command.id);
        control.throwIfStopped();
      }
    }
  } finally {
    plan.return(undefined as never);
  }
}

interface Driven<R> {
  plan: Plan<R>;
  /** The ticket it waits for, and the runner's name for it. */
  waiting?: number;
  done: boolean;
  value?: R;
}

/** Advances a plan until it waits for a task that has not answered, or ends; returns whether it moved. */
function advance<R>(d: Driven<R>, runner: SyncRunner, handles: Map<number, number>): boolean {
  let moved = false;
  for (;;) {
    let answer: TaskResult | undefined;
    if (d.waiting !== undefined) {
      const handle = handles.get(d.waiting) as number;
      if (!runner.ready(handle)) return moved;
      answer = runner.take(handle);
      handles.delete(d.waiting);
      d.waiting = undefined;
    }
    const next = d.plan.next(answer);
    moved = true;
    if (next.done) {
      d.done = true;
      d.value = next.value;
      return moved;
    }
    const command = next.value;
    if (command.op === 'start') handles.set(command.id, runner.post(command.task, command.transfer));
    else d.waiting = command.id;
  }
}

/**
 * Runs plans together to their ends (a call's images share the runner's threads, as with the
 * async driver), blocking while every plan waits. On a failure the tasks still running are
 * waited for, so that the runner is clean for the next call, then the error is thrown.
 */
export function driveSync<R>(plans: Plan<R>[], runner: SyncRunner): R[] {
  const driven: Driven<R>[] = plans.map((plan) => ({ plan, done: false }));
  const handles = new Map<number, number>();
  try {
    for (;;) {
      let moved = false;
      for (const d of driven) if (!d.done && advance(d, runner, handles)) moved = true;
      if (driven.every((d) => d.done)) return driven.map((d) => d.value as R);
      if (!moved) runner.waitAny();
    }
  } catch (error) {
    runner.drain();
    throw error;
  } finally {
    for (const d of driven) d.plan.return(undefined as never);
  }
}
