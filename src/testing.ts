// The test entry, built to build/testing.js and never packed: the default entry's API over the
// published worker, plus what the tests need to see and do that the package does not offer —
// engines made with smaller parts or their own copy cache (engine-wasm.ts EngineInternals), and
// an engine's workers watched through the platform that starts them: how many started, which
// tasks went to which, and a worker killed on purpose. Nothing here reaches into an engine.

import relaxedBytes from '../build/kernels.relaxed.wasm';
import simdBytes from '../build/kernels.simd.wasm';
import { createEngineFrom, type EngineInternals, makeApi } from './engine.js';
import { CopyCache } from './runtime/copies.js';
import { nodePlatform } from './runtime/executors/spawn-node.js';
import type { Platform, WorkerEvents, WorkerPort } from './runtime/executors/spawn.js';
import { type KernelSource, sourceFromBytes } from './runtime/source.js';
import type { Engine, EngineOptions } from './types.js';

export type * from './types.js';
export type { EngineInternals };
export { CopyCache };
export { POOL_WORK, START_WORK } from './runtime/executors/lazy-pool.js';
export { MAX_PARTS, PART_WORK, partsPerImage, planParts, planSteps, STEP_WORK } from './runtime/schedule/jobs.js';
export { patchLabels, rowMap, STRIP_ROWS } from './runtime/wasm/layout.js';

/** One task handed to a worker: which worker, what it ran, and when (performance.now(), ms). */
export interface TaskRecord {
  worker: number;
  kind: string;
  stage?: string;
  posted: number;
  /** When its reply (result, error or abort) reached the calling thread (async calls). */
  answered?: number;
  /**
   * A part that brings its similarity operands (Z, or U and X), or a band's pooling or backward
   * task (the image's Z it writes into; the Z and the parts' dZ slots it reads), an infoNCE
   * gathering task (the U and X it writes into) or backward task (the parts' slots it sums):
   * whether they are in shared memory.
   */
  operands?: 'shared' | 'copied';
}

type Operand = Float32Array | undefined;
type Sent = {
  type?: string;
  task?: {
    kind: string;
    stage?: string;
    band?: unknown;
    z?: Operand;
    u?: Operand;
    x?: Operand;
    zInto?: Operand;
    dzSlots?: { rows: Float32Array }[];
    slots?: { values: Float32Array }[];
    uInto?: Operand;
    xInto?: Operand;
  };
};

/** The arrays of `task` that `TaskRecord.operands` is about (none: not such a task). */
function operandsOf(task: NonNullable<Sent['task']>): Operand[] {
  if (task.kind.endsWith('Part')) return [task.z, task.u, task.x].filter((v) => v !== undefined);
  if (task.kind === 'nceBackward') return (task.slots ?? []).map((slot) => slot.values);
  if (task.kind === 'nceGather') return [task.uInto, task.xInto];
  if (!task.band) return [];
  return task.kind === 'patchPool'
    ? [task.zInto]
    : [task.z, ...(task.dzSlots ?? [undefined]).map((slot) => slot?.rows)];
}

/** The workers of one engine, as its platform started them. */
class Watch {
  started = 0;
  crashNext = false;
  records: TaskRecord[] | null = null;
  readonly open = new Map<number, TaskRecord>();

  /** Records a task posted to worker `worker`. */
  posted(worker: number, message: Sent): void {
    const task = message.task;
    if (!this.records || message.type !== 'task' || !task) return;
    const record: TaskRecord = { worker, kind: task.kind, stage: task.stage, posted: performance.now() };
    const operands = operandsOf(task);
    if (operands.length > 0)
      record.operands = operands.every((v) => v?.buffer instanceof SharedArrayBuffer) ? 'shared' : 'copied';
    this.records.push(record);
    this.open.set(worker, record);
  }

  answered(worker: number, data: { type?: string }): void {
    const record = this.open.get(worker);
    if (!record || data.type === 'progress' || data.type === 'ready') return;
    record.answered = performance.now();
    this.open.delete(worker);
  }

  /** The published platform, each worker it starts watched. */
  platform(): Platform {
    const base = nodePlatform(new URL('../dist/worker.js', import.meta.url));
    return {
      cores: base.cores,
      spawn: async (events: WorkerEvents): Promise<WorkerPort> => {
        const worker = this.started++;
        const port = await (base.spawn as NonNullable<Platform['spawn']>)({
          message: (data) => {
            this.answered(worker, data as { type?: string });
            events.message(data);
          },
          died: events.died,
        });
        return {
          ...port,
          post: (message, transfer) => {
            this.posted(worker, message as Sent);
            port.post(message, transfer);
            // Killed mid-task: its death reaches the pool as an exit.
            if (this.crashNext && (message as Sent).type === 'task') {
              this.crashNext = false;
              port.terminate();
            }
          },
        };
      },
    };
  }
}

const source = sourceFromBytes(simdBytes, relaxedBytes);
const watches = new WeakMap<Engine, Watch>();

/** createEngine, with what the published entries leave at their defaults set (`internals`). */
export async function createEngine(options?: EngineOptions, internals?: EngineInternals): Promise<Engine> {
  const watch = new Watch();
  const engine = await createEngineFrom(source, watch.platform(), options, internals);
  watches.set(engine, watch);
  return engine;
}

/** Whether an engine's workers run (threads 'auto' starts them with the first call that pays for them). */
export function poolStarted(engine: Engine): boolean {
  return (watches.get(engine)?.started ?? 0) > 0;
}

/** The next task handed to a worker of the engine kills that worker mid-task (no-op without workers). */
export function crashWorkerOnNextJob(engine: Engine): void {
  const watch = watches.get(engine);
  if (watch) watch.crashNext = true;
}

/** Records every task the engine's workers are handed from now on, into the returned array. */
export function traceTasks(engine: Engine): TaskRecord[] {
  const watch = watches.get(engine);
  const records: TaskRecord[] = [];
  if (watch) watch.records = records;
  return records;
}

// The top-level functions, over a default engine whose creation and workers are watched.
const defaultWatch = new Watch();
let defaultCreated = false;
const watchedSource: KernelSource = {
  simd: () => {
    defaultCreated = true;
    return source.simd();
  },
  relaxed: () => {
    defaultCreated = true;
    return source.relaxed();
  },
};
const api = makeApi(watchedSource, defaultWatch.platform());

export const { crossEntropy, patchContrast, infoNCE, cflObjective, drawInfoNCESample } = api;

/** Whether the top-level functions' default engine exists and has started its workers. */
export function defaultEngineState(): { exists: boolean; poolStarted: boolean } {
  return { exists: defaultCreated, poolStarted: defaultWatch.started > 0 };
}
