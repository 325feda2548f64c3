// The WebGPU executor: runs the same per-image jobs as the wasm executors (patch contrast:
// patch-job.ts, InfoNCE: nce-job.ts) and the cross-entropy of a whole call (ce-job.ts), on one GPU
// device. Jobs run one at a time (they share the device's cached buffers); each is a few
// submissions and one read-back; the work is cut to the device's limits (slices.ts).

import type { CallControl } from '../runtime/control.js';
import type { Executor } from '../runtime/executors/executor.js';
import {
  type ImageJob,
  type ImageResultOf,
  type InfoNCEImage,
  jobWork,
  type PatchContrastImage,
} from '../runtime/schedule/jobs.js';
import type { CrossEntropySums, CrossEntropyTask } from '../runtime/wasm/protocol.js';
import { crossEntropyJob } from './ce-job.js';
import { type GpuRuntime, WebGpuError } from './device.js';
import { infoNCEJob } from './nce-job.js';
import { patchContrastJob } from './patch-job.js';

export class WebGpuExecutor implements Executor {
  readonly threads = 1;
  readonly syncThreads = 1;

  constructor(readonly runtime: GpuRuntime) {}

  runJobs<J extends ImageJob>(jobs: J[], control: CallControl): Promise<ImageResultOf<J>[]> {
    // A job's kind decides its result's type (schedule/jobs.ts ImageResultOf).
    return Promise.all(jobs.map((job) => this.#run(job, control) as Promise<ImageResultOf<J>>));
  }

  /** A job runs whole on the GPU (its submissions do not block the thread); a stopped call skips it. */
  #run(job: ImageJob, control: CallControl): Promise<PatchContrastImage | InfoNCEImage> {
    return new Promise((resolve, reject) => {
      control.onStop(reject);
      this.runtime
        .exclusive((session) => {
          control.throwIfStopped();
          return job.kind === 'patchContrast' ? patchContrastJob(session, job) : infoNCEJob(session, job);
        })
        .then((result) => {
          control.advance(jobWork(job));
          resolve(result);
        }, reject);
    });
  }

  crossEntropy(p: CrossEntropyTask, gradScale: number): Promise<CrossEntropySums> {
    return this.runtime.exclusive((session) => crossEntropyJob(session, p, gradScale));
  }

  async dispose(): Promise<void> {
    await this.runtime.dispose();
  }
}

export { WebGpuError };
