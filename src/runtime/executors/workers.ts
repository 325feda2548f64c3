// The worker slots of a pool: starting workers (each instantiates the posted module with its own
// memory: no shared wasm memory, so no allocator races), handing a task to an idle one, their
// answers, and a worker's death and replacement. The pool (pool.ts) queues async tasks on them and
// the sync runner (pool-sync.ts) its own; each slot runs one task at a time. Workers are unref'd
// while idle (Node), so an idle pool never keeps a process alive.

import { isPart, type Task, type TaskResult, withoutOperands } from '../wasm/protocol.js';
import type { Spawner, WorkerPort } from './spawn.js';

const READY_TIMEOUT_MS = 15_000;

/** What a worker (src/worker.ts) answers by message; every answer but 'progress' ends its task. */
export type WorkerReply =
  | { type: 'progress'; work: number }
  | { type: 'result'; result: TaskResult; memoryBytes: number }
  | { type: 'aborted'; memoryBytes: number }
  | { type: 'error'; name: string; message: string; memoryBytes: number };

/** What a slot is busy with: a task, told of the worker's messages about it and of the worker's death. */
export interface Assignment {
  readonly task: Task;
  /** A message of the worker about this task; true when it ends the task. */
  message(reply: WorkerReply): boolean;
  /** The worker died (the error says why), or the engine was disposed. */
  died(error: Error): void;
}

export interface Slot {
  port: WorkerPort;
  busy?: Assignment;
  /** The image whose similarity operands the worker holds pinned, as its tasks imply. */
  pinned?: number;
  /** The worker's wasm memory, as its last answer reported. */
  memoryBytes: number;
}

/** What a slot whose worker is starting is busy with. */
const STARTING: Assignment = { task: undefined as never, message: () => false, died: () => {} };

export class WorkerSlots {
  readonly #slots: Slot[] = [];
  #disposed = false;

  readonly #freed: () => void;

  /** `freed` runs whenever a slot becomes idle (the pool then hands it queued work). */
  private constructor(
    readonly module: WebAssembly.Module,
    readonly spawn: Spawner,
    freed: () => void,
  ) {
    this.#freed = freed;
  }

  /** `count` ready workers; rejects when a worker cannot start or answer. */
  static async start(module: WebAssembly.Module, spawn: Spawner, count: number, freed: () => void) {
    const slots = new WorkerSlots(module, spawn, freed);
    // Started together: each worker compiles nothing (it gets the module), but starting one costs
    // tens of milliseconds, and they need not wait for each other.
    const starting = Array.from({ length: count }, () => slots.#start());
    try {
      slots.#slots.push(...(await Promise.all(starting)));
    } catch (error) {
      for (const slot of await Promise.allSettled(starting))
        if (slot.status === 'fulfilled' && !slots.#slots.includes(slot.value)) slot.value.port.terminate();
      slots.dispose();
      throw error;
    }
    return slots;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Starts one worker and waits for its instance to be ready. */
  #start(): Promise<Slot> {
    return new Promise((resolve, reject) => {
      let slot: Slot | undefined;
      let ready = false;
      const timer = setTimeout(() => fail('no answer'), READY_TIMEOUT_MS);
      const fail = (reason: string) => {
        clearTimeout(timer);
        slot?.port.terminate();
        reject(new Error(`forgery-losses: a worker could not start (${reason})`));
      };
      this.spawn({
        message: (data) => {
          if (!ready && (data as { type?: string }).type === 'ready') {
            ready = true;
            clearTimeout(timer);
            slot?.port.hold(false);
            if (slot) resolve(slot);
          } else if (slot?.busy) this.#answer(slot, data as WorkerReply);
        },
        died: (reason) => (ready && slot ? this.died(slot, reason) : fail(reason)),
      }).then(
        (port) => {
          slot = { port, memoryBytes: 0 };
          port.post({ type: 'init', module: this.module });
        },
        (error) => fail(String(error?.message ?? error)),
      );
    });
  }

  /** A message about the slot's task: progress, or its end (the worker's memory as it reported it). */
  #answer(slot: Slot, reply: WorkerReply): void {
    if (reply.type !== 'progress') slot.memoryBytes = reply.memoryBytes;
    // A task that did not finish leaves the worker's arena empty.
    if (slot.busy?.message(reply)) this.release(slot, reply.type !== 'result');
  }

  /** Tells the worker running `assignment` to drop it (it answers 'aborted' at its next step). */
  abort(assignment: Assignment): void {
    this.#slots.find((slot) => slot.busy === assignment)?.port.post({ type: 'abort' });
  }

  /** An idle slot for `task`: one holding its operands when there is one. */
  idleFor(task: Task): Slot | undefined {
    const image = isPart(task) ? task.image : undefined;
    let idle: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.busy) continue;
      if (image !== undefined && slot.pinned === image) return slot;
      idle ??= slot;
    }
    return idle;
  }

  /** Whether some slot runs nothing. */
  get anyIdle(): boolean {
    return this.#slots.some((slot) => !slot.busy);
  }

  /**
   * Posts a task to an idle slot, without the operands the worker already holds; `extra` goes with
   * the message (buffers for its results, or a reply box), `transfer` lists what it moves.
   */
  assign(slot: Slot, assignment: Assignment, extra: Record<string, unknown>, transfer: ArrayBuffer[]): void {
    const { task } = assignment;
    const image = isPart(task) ? task.image : undefined;
    const sent = isPart(task) && slot.pinned === image ? withoutOperands(task) : task;
    slot.busy = assignment;
    slot.port.hold(true);
    // The worker keeps a part's operands until a task of another image comes (wasm/run-task.ts).
    slot.pinned = image;
    slot.port.post({ type: 'task', task: sent, ...extra }, transfer);
  }

  /** The slot's task has ended: it takes the next one. `unpinned`: the worker's arena was reset. */
  release(slot: Slot, unpinned = false): void {
    slot.busy = undefined;
    if (unpinned) slot.pinned = undefined;
    slot.port.hold(false);
    this.#freed();
  }

  /** A worker died (or stopped answering): its task fails, a fresh worker takes its place. */
  died(slot: Slot, reason: string): void {
    const index = this.#slots.indexOf(slot);
    if (index < 0) return; // already replaced (error and exit both report one death)
    const busy = slot.busy;
    slot.busy = undefined;
    slot.port.terminate();
    busy?.died(new Error(`forgery-losses: a worker died during the call (${reason}); it has been replaced`));
    if (this.#disposed) return;
    // Busy, so that no task goes to it while its replacement starts.
    const placeholder: Slot = { port: { post() {}, terminate() {}, hold() {} }, busy: STARTING, memoryBytes: 0 };
    this.#slots[index] = placeholder;
    this.#start().then(
      (fresh) => {
        if (this.#disposed) return fresh.port.terminate();
        this.#slots[this.#slots.indexOf(placeholder)] = fresh;
        this.#freed();
      },
      () => {
        // The runtime can no longer start workers: the pool goes on with the others.
        this.#slots.splice(this.#slots.indexOf(placeholder), 1);
        this.#freed();
      },
    );
  }

  /** Whether any worker is left (one that is starting counts). */
  get alive(): boolean {
    return this.#slots.length > 0;
  }

  /** Wasm memory of all workers, as last reported. */
  memoryBytes(): number {
    return this.#slots.reduce((sum, slot) => sum + slot.memoryBytes, 0);
  }

  /** Ends every worker; a task running on one is told that it died. */
  dispose(): void {
    this.#disposed = true;
    for (const slot of this.#slots) {
      slot.busy?.died(new Error('forgery-losses: this engine has been disposed'));
      slot.port.terminate();
    }
    this.#slots.length = 0;
  }
}
