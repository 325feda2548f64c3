// Where per-image jobs run. The inline executor runs them in the calling thread on the engine's
// own wasm instance; the worker pool (pool.ts) spreads them over workers. Both take a job
// *maker*, called when the job is about to run, so a batch is never copied whole: in the calling
// thread a job holds views of the caller's arrays, for a worker it holds per-image copies.

import type { ParsedCrossEntropy } from '../losses/crossEntropy';
import { type ImageJob, type ImageResult, runImageJob } from '../losses/imageJobs';
import type { Kernels } from './kernels';
import type { Workspace } from './workspace';

export type JobMaker = (forWorker: boolean) => ImageJob;

export interface Executor {
  /** Threads that run jobs (1 for the calling thread). */
  readonly threads: number;
  run(make: JobMaker): Promise<ImageResult>;
  /** A whole cross-entropy call, where the executor has its own path for it (WebGPU). */
  crossEntropy?(p: ParsedCrossEntropy): Promise<{ loss: number | Float32Array; grad?: Float32Array }>;
  dispose(): Promise<void>;
}

export class InlineExecutor implements Executor {
  readonly threads = 1;

  constructor(
    private readonly kernels: Kernels,
    private readonly workspace: Workspace,
  ) {}

  run(make: JobMaker): Promise<ImageResult> {
    try {
      return Promise.resolve(runImageJob(this.kernels, this.workspace, make(false)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async dispose(): Promise<void> {}
}
