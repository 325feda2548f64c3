// A worker's answer to a sync call's task, written into shared memory (a reply box) instead of a
// message: the calling thread is blocked in Atomics.wait and cannot receive messages. The worker
// writes the result's numbers and arrays into the box, sets its state and rings the pool's bell;
// the calling thread reads the box. Arrays that are the task's own shared memory (the features
// copy the backward pass writes the gradient into) are named, not copied. A box too small for a
// result says how large it must be, and the worker waits for a larger one (a 'box' message).

import type { Task, TaskResult } from '../wasm/protocol.js';

/** Int32 slots of a box's header. */
const STATE = 0,
  TEXT = 1,
  NEEDED = 2,
  BEAT = 3,
  PAGES = 4;
const HEADER_BYTES = 32;

export const POSTED = 0,
  DONE = 2,
  FAILED = 3,
  TOO_SMALL = 4;

type ArrayName = 'Float32Array' | 'Float64Array' | 'Int32Array' | 'Uint8Array';

/** A view of `length` elements of `box` from `offset`. */
function viewOf(name: ArrayName, box: SharedArrayBuffer, offset: number, length: number) {
  if (name === 'Float32Array') return new Float32Array(box, offset, length);
  if (name === 'Float64Array') return new Float64Array(box, offset, length);
  if (name === 'Int32Array') return new Int32Array(box, offset, length);
  return new Uint8Array(box, offset, length);
}

type Field = number | { ref: string } | { array: ArrayName; offset: number; length: number };

const align8 = (n: number) => (n + 7) & ~7;

export function newBox(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(HEADER_BYTES + 64, align8(bytes)));
}

const header = (box: SharedArrayBuffer) => new Int32Array(box, 0, HEADER_BYTES / 4);

export function boxState(box: SharedArrayBuffer): number {
  return Atomics.load(header(box), STATE);
}

/** The box's heartbeat: the worker counts the steps of the task it runs. */
export function beatOf(box: SharedArrayBuffer): number {
  return Atomics.load(header(box), BEAT);
}

export function neededBytes(box: SharedArrayBuffer): number {
  return header(box)[NEEDED];
}

/** The worker's wasm memory, as its last answer in this box said. */
export function pagesOf(box: SharedArrayBuffer): number {
  return header(box)[PAGES];
}

/** A fresh box for a task: nothing written, no beat. */
export function clearBox(box: SharedArrayBuffer): void {
  header(box).fill(0);
}

function ring(box: SharedArrayBuffer, bell: Int32Array, state: number, pages: number): void {
  const h = header(box);
  h[PAGES] = pages;
  Atomics.store(h, STATE, state);
  Atomics.add(bell, 0, 1);
  Atomics.notify(bell, 0);
}

/** One more step of the task in `box` (worker side). */
export function beat(box: SharedArrayBuffer): void {
  Atomics.add(header(box), BEAT, 1);
}

/** The key under which `task` holds `array`, if it does. */
function keyOf(task: Task, array: ArrayBufferView): string | undefined {
  return Object.entries(task).find(([, value]) => value === array)?.[0];
}

/** Writes `result` into `box` (worker side); false, with the bytes needed said, when it does not fit. */
export function writeReply(box: SharedArrayBuffer, bell: Int32Array, task: Task, result: TaskResult, pages: number) {
  const fields: Record<string, Field> = {};
  const arrays: [ArrayBufferView, number][] = [];
  let bytes = 0;
  for (const [key, value] of Object.entries(result) as [string, unknown][]) {
    if (value === undefined) continue;
    if (!ArrayBuffer.isView(value)) {
      fields[key] = value as number;
      continue;
    }
    const ref = value.buffer instanceof SharedArrayBuffer ? keyOf(task, value) : undefined;
    if (ref) fields[key] = { ref };
    else {
      const length = (value as Float32Array).length;
      fields[key] = { array: value.constructor.name as ArrayName, offset: bytes, length };
      arrays.push([value, bytes]);
      bytes = align8(bytes + value.byteLength);
    }
  }
  const text = new TextEncoder().encode(JSON.stringify(fields));
  const start = align8(HEADER_BYTES + text.length);
  if (start + bytes > box.byteLength) {
    header(box)[NEEDED] = start + bytes;
    ring(box, bell, TOO_SMALL, pages);
    return false;
  }
  new Uint8Array(box, HEADER_BYTES, text.length).set(text);
  for (const [v, offset] of arrays)
    new Uint8Array(box, start + offset, v.byteLength).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  header(box)[TEXT] = text.length;
  ring(box, bell, DONE, pages);
  return true;
}

/** Writes a task's error into `box` (worker side). */
export function writeFailure(box: SharedArrayBuffer, bell: Int32Array, error: unknown, pages: number): void {
  const e = error as Error;
  const text = new TextEncoder().encode(JSON.stringify({ name: e?.name ?? 'Error', message: e?.message ?? String(e) }));
  // An error message always fits: the smallest box holds 64 bytes, and a longer message is cut.
  const room = box.byteLength - HEADER_BYTES;
  const cut = text.length <= room ? text : new TextEncoder().encode(JSON.stringify({ name: 'Error', message: '' }));
  new Uint8Array(box, HEADER_BYTES, cut.length).set(cut);
  header(box)[TEXT] = cut.length;
  ring(box, bell, FAILED, pages);
}

function readText(box: SharedArrayBuffer): unknown {
  // TextDecoder refuses views of shared memory: the few bytes of text are copied out first.
  const bytes = new Uint8Array(header(box)[TEXT]);
  bytes.set(new Uint8Array(box, HEADER_BYTES, bytes.length));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * The result in `box` (calling side): its arrays are views into the box when `views` (the caller
 * hands the box back once it has used them), else copies.
 */
export function readReply(box: SharedArrayBuffer, task: Task, views: boolean): TaskResult {
  const fields = readText(box) as Record<string, Field>;
  const start = align8(HEADER_BYTES + header(box)[TEXT]);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    if (typeof field === 'number') out[key] = field;
    else if ('ref' in field) out[key] = task[field.ref as keyof Task];
    else {
      const view = viewOf(field.array, box, start + field.offset, field.length);
      out[key] = views ? view : view.slice();
    }
  }
  return out as unknown as TaskResult;
}

/** The error in `box` (calling side), as the type the worker threw. */
export function readFailure(box: SharedArrayBuffer): Error {
  const { name, message } = readText(box) as { name: string; message: string };
  return rebuildError(name, message);
}

export function rebuildError(name: string, message: string): Error {
  if (name === 'RangeError') return new RangeError(message);
  if (name === 'TypeError') return new TypeError(message);
  return new Error(message);
}
