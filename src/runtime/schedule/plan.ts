// A plan: what a call does as a sequence of tasks, written once as a generator and run by either
// driver (drive.ts) — one that awaits the tasks (async calls), one that runs them to completion
// (sync calls). A plan yields commands: start a task (it runs alongside the others started), and
// take the result of a started task. So both drivers run the same tasks in the same order and
// merge their results the same way: the bits do not depend on which driver ran a call.

import type { CopyCache } from '../copies.js';
import type { ResultOf, Task, TaskResult } from '../wasm/protocol.js';

export type Command = { op: 'start'; id: number; task: Task; transfer: ArrayBuffer[] } | { op: 'result'; id: number };

/** A generator of commands whose return value is R; each `result` command is answered with its task's result. */
export type Plan<R> = Generator<Command, R, TaskResult | undefined>;

/** A started task, whose result a plan takes with `result`. */
export interface Ticket<T extends Task> {
  readonly id: number;
  readonly task: T;
}

let nextTicket = 0;
let lastImageRun = 0;

/**
 * A name for an image's run through the similarity passes (protocol.ts `image`), unique across both
 * losses: a worker keeps the last run's operands pinned under its name, and a name the other loss
 * had used too would hand one image's Z to the other's parts as their U and X.
 */
export function newImageRun(): number {
  return ++lastImageRun;
}

/**
 * Starts a task; `transfer` lists the buffers it may take (a worker's message moves them): the
 * plan no longer reads them.
 */
export function* start<T extends Task>(task: T, transfer: ArrayBuffer[] = []): Plan<Ticket<T>> {
  const id = ++nextTicket;
  yield { op: 'start', id, task, transfer };
  return { id, task };
}

/** Starts every task of a list, in order. */
export function* startAll<T extends Task>(tasks: [T, ArrayBuffer[]][]): Plan<Ticket<T>[]> {
  const tickets: Ticket<T>[] = [];
  for (const [task, transfer] of tasks) tickets.push(yield* start(task, transfer));
  return tickets;
}

/** The result of a started task, once it has one. */
export function* result<T extends Task>(ticket: Ticket<T>): Plan<ResultOf<T>> {
  // The drivers answer a ticket with the result of its own task (drive.ts).
  return (yield { op: 'result', id: ticket.id }) as ResultOf<T>;
}

/** The results of started tasks, in order. */
export function* results<T extends Task>(tickets: Ticket<T>[]): Plan<ResultOf<T>[]> {
  const out: ResultOf<T>[] = [];
  for (const ticket of tickets) out.push(yield* result(ticket));
  return out;
}

/** acc[offset + i] += part[i], float32 (the same sums in wasm SIMD on the calling thread: wasm/sums.ts). */
export type AddF32 = (acc: Float32Array, part: Float32Array, offset: number) => void;

/** What a plan needs from whoever runs it, besides running its tasks. */
export interface PlanHost {
  /** Threads of the executor: with more than a call's images, a patchContrast image runs in bands. */
  readonly threads: number;
  readonly add: AddF32;
  /** A part's result, merged: nothing reads it any more, so its buffers may hold later results. */
  done(result: TaskResult): void;
  /** An array of a result that the plan keeps past `done`: itself, or a copy where `done` reuses its memory. */
  keep(array: Float32Array): Float32Array;
  /** Work done outside tasks (a skipped image), for onProgress. */
  advance(units: number): void;
  /** The engine's copies (the parts' shared operands, the images' features copies). */
  readonly copies: CopyCache;
}

/** The buffers of `views`, for a transfer list (a shared buffer is never moved; an absent view has none). */
export function moved(...views: (ArrayBufferView | undefined)[]): ArrayBuffer[] {
  return views.map((v) => v?.buffer).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}
