// Test-only entry, built to build/testing.js and never packed: the default entry's API plus the
// fault injection the tests need (a worker that dies mid-job, a lost WebGPU device, tiny WebGPU
// budgets). It reaches into engine internals on purpose, so that neither the public engine nor the
// published worker carries a test hook.

import relaxedBytes from '../build/kernels.relaxed.wasm';
import simdBytes from '../build/kernels.simd.wasm';
import { makeApi } from './engine.js';
import type { LossContext } from './runtime/context.js';
import { WorkerPool } from './runtime/pool.js';
import { sourceFromBytes } from './runtime/source.js';
import { nodePlatform } from './runtime/spawn-node.js';
import type { Engine } from './types.js';
import type { GpuRuntime } from './webgpu/device.js';

export type * from './types.js';
export {
  countPristine,
  MAX_PARTS,
  PART_WORK,
  partsPerImage,
  planParts,
  planSteps,
  setPartWork,
  STEP_WORK,
  STRIP_ROWS,
} from './runtime/jobs.js';

// The published worker, beside the published entry.
const api = makeApi(
  sourceFromBytes(simdBytes, relaxedBytes),
  nodePlatform(new URL('../dist/worker.js', import.meta.url)),
);

export const { createEngine, crossEntropy, patchContrast, infoNCE, cflObjective, drawInfoNCESample } = api;

/** Whether an engine's workers run (threads 'auto' starts them with the first call that pays for them). */
export function poolStarted(engine: Engine): boolean {
  const executor = internals(engine).ctx.executor as { poolStarted?: boolean; threads: number };
  return executor.poolStarted ?? executor.threads > 1;
}

/** Whether the top-level functions' default engine exists and has started its workers. */
export async function defaultEngineState(): Promise<{ exists: boolean; poolStarted: boolean }> {
  const engine = await api.defaultEngine();
  return engine ? { exists: true, poolStarted: poolStarted(engine) } : { exists: false, poolStarted: false };
}
export { POOL_WORK, START_WORK } from './runtime/lazy-pool.js';
export { keptFloats, releaseCopies } from './runtime/recycle.js';

interface Internals {
  ctx: LossContext;
  gpu?: { runtime: GpuRuntime };
}

const internals = (engine: Engine) => engine as unknown as Internals;

type Post = (message: { type?: string }, transfer?: ArrayBuffer[]) => void;

/** The next task handed to the pool's first worker kills that worker mid-task (no-op without workers). */
export function crashWorkerOnNextJob(engine: Engine): void {
  const pool = internals(engine).ctx.executor;
  if (!(pool instanceof WorkerPool)) return;
  const inside = pool as unknown as { slots: { port: { post: Post } }[]; died(slot: unknown, reason: string): void };
  const slot = inside.slots[0];
  const post = slot.port.post;
  slot.port.post = (message, transfer) => {
    post(message, transfer);
    if (message.type !== 'task') return;
    slot.port.post = post;
    inside.died(slot, 'killed by a test');
  };
}

/** One task handed to a worker: which worker, what it ran, and when (performance.now(), ms). */
export interface TaskRecord {
  worker: number;
  kind: string;
  stage?: string;
  posted: number;
  /** When its reply (result, error or abort) reached the calling thread. */
  answered?: number;
  /** A part that brings its similarity operands (Z, or U and X): whether they came in shared memory. */
  operands?: 'shared' | 'copied';
}

/**
 * Records every task the engine's workers are handed from now on, into the returned array
 * (bench/timeline.mjs; an engine without workers records nothing).
 */
export function traceTasks(engine: Engine): TaskRecord[] {
  const records: TaskRecord[] = [];
  const pool = internals(engine).ctx.executor;
  if (!(pool instanceof WorkerPool)) return records;
  type Task = { kind: string; stage?: string; z?: Float32Array; u?: Float32Array; x?: Float32Array };
  const inside = pool as unknown as {
    slots: { port: { post: (message: { type?: string; task?: Task }, transfer?: ArrayBuffer[]) => void } }[];
    finish(slot: unknown, data: { type: string }): void;
  };
  const open = new Map<unknown, TaskRecord>();
  inside.slots.forEach((slot, worker) => {
    const post = slot.port.post.bind(slot.port);
    slot.port.post = (message, transfer) => {
      if (message.type === 'task' && message.task) {
        const { kind, stage, z, u, x } = message.task;
        const record: TaskRecord = { worker, kind, stage, posted: performance.now() };
        const operands = [z, u, x].filter((v) => v !== undefined);
        if (kind.endsWith('Part') && operands.length > 0)
          record.operands = operands.every((v) => v.buffer instanceof SharedArrayBuffer) ? 'shared' : 'copied';
        records.push(record);
        open.set(slot, record);
      }
      post(message, transfer);
    };
  });
  const finish = inside.finish.bind(pool);
  inside.finish = (slot, data) => {
    const record = open.get(slot);
    if (record && data.type !== 'progress' && data.type !== 'ready') {
      record.answered = performance.now();
      open.delete(slot);
    }
    finish(slot, data);
  };
  return records;
}

/** Destroys the engine's WebGPU device, as a GPU reset would (no-op without one). */
export function loseWebGpuDevice(engine: Engine): void {
  const runtime = internals(engine).gpu?.runtime as unknown as
    | { device: GPUDevice | null; generation: number; forget(generation: number, message: string): void }
    | undefined;
  if (!runtime) return;
  const device = runtime.device;
  // Forgotten at once (the device's lost promise settles later), so the next call sees the loss.
  runtime.forget(runtime.generation, 'destroyed by a test');
  device?.destroy();
}

/** The WebGPU strip and slice budgets in bytes (tiny ones exercise the splitting). */
export function setWebGpuBudgets(engine: Engine, budgets: { strip?: number; slice?: number }): void {
  const runtime = internals(engine).gpu?.runtime;
  if (runtime) Object.assign(runtime.budgets, budgets);
}
