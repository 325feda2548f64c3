// A sync call's tasks on the pool's workers (docs/design.md §5): posted as an async call's are, each
// with a reply box (reply.ts) where the worker writes its answer, while the calling thread waits
// on the pool's bell with Atomics.wait. A task runs in the calling thread instead when no worker
// is free and none of the call's tasks is running (async calls hold every worker). A worker whose
// task stops beating for `stallMs` (it died: its exit event cannot arrive while the thread waits)
// fails that task and is replaced.

import { PAGE } from '../wasm/arena.js';
import { isPart, type Task, type TaskResult } from '../wasm/protocol.js';
import type { SyncRunner } from '../schedule/drive.js';
import {
  beatOf,
  boxState,
  clearBox,
  DONE,
  FAILED,
  neededBytes,
  newBox,
  pagesOf,
  readFailure,
  readReply,
  TOO_SMALL,
} from './reply.js';
import type { Assignment, Slot, WorkerSlots } from './workers.js';

/** How long the calling thread waits before it looks for a stalled worker. */
const POLL_MS = 250;
/** Boxes kept for later tasks: at most this many, and this many bytes. */
const MAX_BOXES = 32;
const MAX_BOX_BYTES = 2 ** 28;
const FIRST_BOX = 2 ** 16;

class Ticket implements Assignment {
  slot?: Slot;
  box?: SharedArrayBuffer;
  result?: TaskResult;
  error?: unknown;
  done = false;
  /** The last beat seen, and when it changed. */
  beat = 0;
  since = 0;

  constructor(
    readonly task: Task,
    readonly transfer: ArrayBuffer[],
  ) {}

  /** Sync tasks answer in their box, never by message. */
  message(): boolean {
    return false;
  }

  died(error: Error): void {
    this.error = error;
    this.done = true;
  }
}

const now = () => performance.now();

export class PoolSync implements SyncRunner {
  readonly #bell = new Int32Array(new SharedArrayBuffer(4));
  readonly #boxes: SharedArrayBuffer[] = [];
  /** Results whose arrays are views into their box, and the box. */
  readonly #viewed = new WeakMap<TaskResult, SharedArrayBuffer>();
  readonly #tickets = new Map<number, Ticket>();
  readonly #queue: Ticket[] = [];
  readonly #running = new Set<Ticket>();
  #next = 0;

  readonly #slots: WorkerSlots;
  readonly #inline: (task: Task) => TaskResult;
  readonly #stallMs: number;

  constructor(slots: WorkerSlots, inline: (task: Task) => TaskResult, stallMs: number) {
    this.#slots = slots;
    this.#inline = inline;
    this.#stallMs = stallMs;
  }

  post(task: Task, transfer: ArrayBuffer[]): number {
    const ticket = new Ticket(task, transfer);
    this.#tickets.set(++this.#next, ticket);
    this.#queue.push(ticket);
    this.#dispatch();
    return this.#next;
  }

  ready(handle: number): boolean {
    const ticket = this.#tickets.get(handle) as Ticket;
    if (!ticket.done && this.#collect() > 0) this.#dispatch();
    return ticket.done;
  }

  take(handle: number): TaskResult {
    const ticket = this.#tickets.get(handle) as Ticket;
    this.#tickets.delete(handle);
    if (ticket.error !== undefined) throw ticket.error;
    return ticket.result as TaskResult;
  }

  waitAny(): void {
    for (;;) {
      const seen = Atomics.load(this.#bell, 0);
      let ended = this.#collect();
      if (ended === 0 && Atomics.wait(this.#bell, 0, seen, POLL_MS) === 'timed-out') ended = this.#stalled();
      if (ended > 0) {
        // Their workers are free for what is queued.
        this.#dispatch();
        return;
      }
    }
  }

  drain(): void {
    for (const ticket of this.#queue.splice(0)) ticket.done = true;
    while (this.#running.size > 0) {
      const seen = Atomics.load(this.#bell, 0);
      if (this.#collect() === 0 && Atomics.wait(this.#bell, 0, seen, POLL_MS) === 'timed-out') this.#stalled();
    }
    this.#tickets.clear();
  }

  /** A merged part result's box may hold later answers. */
  release(result: TaskResult): void {
    const box = this.#viewed.get(result);
    if (box) this.#keep(box);
  }

  /**
   * Keeps a box for later answers, the kept boxes in order of size: a task takes the largest, and
   * past the limits the smallest are let go, so that small answers do not crowd out the boxes
   * large ones need (each too small a box costs its worker a wait for a larger one).
   */
  #keep(box: SharedArrayBuffer): void {
    const boxes = this.#boxes;
    const at = boxes.findIndex((b) => b.byteLength > box.byteLength);
    boxes.splice(at < 0 ? boxes.length : at, 0, box);
    let bytes = boxes.reduce((n, b) => n + b.byteLength, 0);
    while (boxes.length > MAX_BOXES || bytes > MAX_BOX_BYTES) bytes -= (boxes.shift() as SharedArrayBuffer).byteLength;
  }

  /** Posts queued tasks to free workers; one runs in this thread when no worker is free and none of ours runs. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      const ticket = this.#queue[0];
      const slot = this.#slots.idleFor(ticket.task);
      if (!slot && this.#running.size > 0) return;
      this.#queue.shift();
      if (!slot) {
        this.#runHere(ticket);
        continue;
      }
      const box = this.#boxes.pop() ?? newBox(FIRST_BOX);
      clearBox(box);
      Object.assign(ticket, { slot, box, beat: 0, since: now() });
      this.#running.add(ticket);
      this.#slots.assign(slot, ticket, { reply: { box, bell: this.#bell } }, ticket.transfer);
    }
  }

  #runHere(ticket: Ticket): void {
    try {
      ticket.result = this.#inline(ticket.task);
    } catch (error) {
      ticket.error = error;
    }
    ticket.done = true;
  }

  /** Reads the boxes that have answered; returns how many tasks ended. */
  #collect(): number {
    let ended = 0;
    for (const ticket of this.#running) {
      const box = ticket.box as SharedArrayBuffer;
      const state = boxState(box);
      if (state === TOO_SMALL) this.#grow(ticket);
      if (state !== DONE && state !== FAILED) continue;
      if (state === DONE) {
        // A part's arrays are read where they lie, and its box comes back once they are merged.
        const views = isPart(ticket.task);
        ticket.result = readReply(box, ticket.task, views);
        if (views) this.#viewed.set(ticket.result, box);
        else this.#keep(box);
      } else {
        ticket.error = readFailure(box);
        this.#keep(box);
      }
      this.#end(ticket, pagesOf(box) * PAGE, state === FAILED);
      ended++;
    }
    return ended;
  }

  #end(ticket: Ticket, memoryBytes: number, failed: boolean): void {
    ticket.done = true;
    this.#running.delete(ticket);
    const slot = ticket.slot as Slot;
    slot.memoryBytes = memoryBytes;
    this.#slots.release(slot, failed);
  }

  /** A larger box for a result that did not fit; the worker waits for it. */
  #grow(ticket: Ticket): void {
    const old = ticket.box as SharedArrayBuffer;
    const box = newBox(Math.ceil(neededBytes(old) * 1.25));
    ticket.box = box;
    this.#keep(old);
    ticket.slot?.port.post({ type: 'box', box });
  }

  /** Fails the tasks whose worker has not beaten for stallMs (and replaces the worker); returns how many. */
  #stalled(): number {
    let failed = 0;
    for (const ticket of this.#running) {
      const beat = beatOf(ticket.box as SharedArrayBuffer);
      if (beat !== ticket.beat) {
        ticket.beat = beat;
        ticket.since = now();
      } else if (now() - ticket.since > this.#stallMs) {
        this.#running.delete(ticket);
        // Its box is let go: a worker being terminated might still write into it.
        this.#slots.died(ticket.slot as Slot, `it stopped answering for ${this.#stallMs / 1000} s`);
        failed++;
      }
    }
    return failed;
  }

  dispose(): void {
    this.#boxes.length = 0;
  }
}
