// The plan of a job, whichever loss it belongs to.

import type { ImageJob, ImageResultOf } from './jobs.js';
import { nceImage } from './nce-image.js';
import { patchImage } from './patch-image.js';
import type { Plan, PlanHost } from './plan.js';

export function imagePlan<J extends ImageJob>(job: J, host: PlanHost): Plan<ImageResultOf<J>> {
  // A job's kind decides its plan, and so its result's type (jobs.ts ImageResultOf).
  return (job.kind === 'patchContrast' ? patchImage(job, host) : nceImage(job, host)) as Plan<ImageResultOf<J>>;
}
