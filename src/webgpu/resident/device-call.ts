// What every sync call on the device shares: its recorder, the `bad` words (a non-finite input
// seen: by the features' check or by the cross-entropy kernels), and the loss parts — each image's
// (or cross-entropy's) share of the loss, already scaled, summed into the loss at the end. The
// results are buffers of the engine's, valid until its next call on the device (docs/webgpu.md).

import type { GpuOutput } from '../../types.js';
import { BAD_INIT } from '../ce-job.js';
import type { CompiledKernels } from '../kernels.js';
import type { Binding, Lane } from '../lane.js';
import { Recorder } from '../recorder.js';
import type { GpuSession } from '../session.js';

const NAN_BITS = 0x7fc00000;

/** Which rows `sum` adds: `count` rows of `stride` floats, value `a` (minus value `b`). */
interface Rows {
  count: number;
  stride: number;
  a: number;
  b?: number;
}

export class DeviceCall {
  readonly lane: Lane;
  readonly k: CompiledKernels;
  readonly rec: Recorder;
  readonly bad: Binding;
  readonly #parts: Binding;
  readonly #slots: number;

  /** A call whose loss is the sum of `slots` parts. */
  constructor(session: GpuSession, slots: number) {
    this.lane = session.lane;
    this.k = session.kernels.every();
    this.rec = this.lane.recorder();
    this.#slots = slots;
    this.bad = this.lane.storage('bad', 16);
    this.#parts = this.lane.storage('lossParts', slots * 4);
    this.rec.write(this.bad, 0, BAD_INIT);
    // Parts that no work writes (infoNCE's skipped images) count 0.
    this.rec.clear(this.#parts.buffer, 0, this.#parts.buffer.size);
  }

  /** Records the non-finite check of `count` floats of `data` (features copied from a GPU buffer). */
  check = (rec: Recorder, data: Binding, count: number): void => {
    rec.dispatch(this.k.flagNonFinite, { x: data, bad: this.bad }, { count }, ...Recorder.grid(count));
  };

  /** Part `slot` = scale · the sum of `rows` of `src`. */
  sum(src: Binding, rows: Rows, scale: number, slot: number): void {
    const params = { ...rows, b: rows.b ?? 0, minus: rows.b === undefined ? 0 : 1, scale: Math.fround(scale), slot };
    this.rec.dispatch(this.k.sumScaled, { src, out: this.#parts }, params, 1);
  }

  /** A result buffer of `floats` values. */
  output(name: string, floats: number): GpuOutput {
    const bytes = floats * 4;
    return { buffer: this.lane.output(name, bytes), byteOffset: 0, byteLength: bytes };
  }

  /** Makes `out` NaN where the call met a non-finite input. */
  nanIfBad(out: GpuOutput, count: number): void {
    const x = { buffer: out.buffer as GPUBuffer, size: count * 4 };
    this.rec.dispatch(this.k.nanIfBad, { bad: this.bad, x }, { count, nanBits: NAN_BITS }, ...Recorder.grid(count));
  }

  /** The loss: the sum of the parts (NaN after a non-finite input); then everything is submitted. */
  finish(): GpuOutput {
    const loss = this.output('loss', 1);
    const out = { buffer: loss.buffer as GPUBuffer, size: 4 };
    const params = { count: this.#slots, stride: 1, a: 0, b: 0, minus: 0, scale: 1, slot: 0 };
    this.rec.dispatch(this.k.sumScaled, { src: this.#parts, out }, params, 1);
    this.nanIfBad(loss, 1);
    this.rec.flush();
    return loss;
  }
}
