// Where a call's per-image jobs run: the calling thread (inline.ts), worker threads (pool.ts,
// lazy-pool.ts) or the GPU (webgpu/). The wasm executors run every job as its plan's tasks
// (schedule/), so they give the same bits; a sync call runs the same plans to completion.

import type { CallControl } from '../control.js';
import type { ImageJob, ImageResultOf } from '../schedule/jobs.js';
import type { CrossEntropySums, CrossEntropyTask } from '../wasm/protocol.js';

export interface Executor {
  /** Threads that run async calls' jobs (1 for the calling thread). */
  readonly threads: number;
  /** Threads that run a sync call's jobs. */
  readonly syncThreads: number;
  /** Runs a call's jobs; rejects with the call's reason once `control` stops. */
  runJobs<J extends ImageJob>(jobs: J[], control: CallControl): Promise<ImageResultOf<J>[]>;
  /** Runs a call's jobs to completion (absent where the executor cannot: sync calls then run on wasm). */
  runJobsSync?<J extends ImageJob>(jobs: J[]): ImageResultOf<J>[];
  /** The sums of a whole cross-entropy call, where the executor has its own path for it (WebGPU). */
  crossEntropy?(task: CrossEntropyTask, gradScale: number): Promise<CrossEntropySums>;
  /** Where a call of `work` units (schedule/jobs.ts jobWork) runs, when that depends on its size (lazy-pool.ts). */
  forWork?(work: number): Promise<Executor>;
  forWorkSync?(work: number): Executor;
  dispose(): Promise<void>;
}
