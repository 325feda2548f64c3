// Where a call's floats come from: a host array, written into the device's buffers, or a GPU
// buffer of the device (a sync call's features or logits), copied on the GPU. Host values were
// checked when the call was made; a GPU buffer's are checked on the GPU, and a non-finite one
// makes the call's loss NaN (docs/webgpu.md).

import type { Binding } from './lane.js';
import type { Recorder } from './recorder.js';

export type FloatSource =
  | { kind: 'host'; values: Float32Array }
  | { kind: 'device'; buffer: GPUBuffer; byteOffset: number };

/** Puts `count` floats of `src` from float index `from` into `dst` at byte `at`. */
export function put(rec: Recorder, src: FloatSource, from: number, count: number, dst: Binding, at = 0): void {
  if (src.kind === 'host') {
    rec.write(dst, at, src.values.subarray(from, from + count));
    return;
  }
  rec.copy(src.buffer, src.byteOffset + from * 4, dst.buffer, at, count * 4);
}
