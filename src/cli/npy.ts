// NumPy .npy files (format versions 1.0, 2.0 and 3.0; C order, little-endian): decoding into the
// typed arrays the API takes, and encoding float32 results. Every error names the file.

import { kMaxLength } from 'node:buffer';
import { describe, openRegularFile, readAt } from './files.js';

/** The element types read; each maps to one DataView getter below. */
export type NpyDtype = '<f4' | '<f8' | '|u1' | '|b1' | '<i4' | '<i8';

/** A decoded file: its dtype, its shape and a view of its payload. */
export interface NpyArray {
  /** Where the bytes came from (a path), used in every error message. */
  source: string;
  dtype: NpyDtype;
  shape: number[];
  /** Number of elements (1 for a 0-d array). */
  size: number;
  data: DataView;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ITEM_SIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '|u1': 1, '|b1': 1, '<i4': 4, '<i8': 8 };
// numpy spells single-byte and native-order dtypes several ways; these are the same layouts.
const ALIASES: Record<string, NpyDtype> = { '<u1': '|u1', '=u1': '|u1', '|?': '|b1', '<b1': '|b1' };

/** Where a file's parts lie, read from its header: the data starts at `dataStart` and is `byteLength` long. */
interface Layout {
  dtype: NpyDtype;
  shape: number[];
  size: number;
  dataStart: number;
  byteLength: number;
}

/** Longest header read (numpy writes under 100 bytes and itself refuses over 10,000 by default). */
const MAX_HEADER = 1 << 20;

/** The prefix bytes before the header: the magic string, the version and the header's length. */
function prefix(bytes: Uint8Array, fail: (why: string) => never): { start: number; headerLength: number } {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (bad magic string)');
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) fail(`unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) fail('truncated header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerLength > MAX_HEADER) fail(`header of ${headerLength} bytes is too long (at most ${MAX_HEADER})`);
  return { start: 8 + lengthBytes, headerLength };
}

/** The layout of a file whose first bytes (prefix and header at least) are `bytes`. */
function layout(bytes: Uint8Array, fail: (why: string) => never): Layout {
  const { start, headerLength } = prefix(bytes, fail);
  if (bytes.length < start + headerLength) fail('truncated header');
  // Version 3.0 allows UTF-8 in the header (field names); 1.0 and 2.0 are latin-1, a subset here.
  const utf8 = bytes[6] === 3;
  const header = new TextDecoder(utf8 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const { descr, fortranOrder, shape } = parseHeader(header, fail);
  if (fortranOrder) fail('Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)');
  const dtype = checkDtype(descr, fail);
  const size = shape.reduce((n, d) => n * d, 1);
  return { dtype, shape, size, dataStart: start + headerLength, byteLength: size * ITEM_SIZE[dtype] };
}

/** Fails unless the file's `actual` bytes after the header are exactly what the header implies. */
function checkDataSize(l: Layout, actual: number, fail: (why: string) => never): void {
  if (actual === l.byteLength) return;
  const needs =
    `shape (${l.shape.join(', ')}) of ${l.dtype} needs ${l.byteLength} bytes of data ` +
    `(a file of ${l.dataStart + l.byteLength} bytes)`;
  const has = `the file has ${actual} (${l.dataStart + actual} bytes in all)`;
  fail(`${actual < l.byteLength ? 'truncated data' : 'trailing bytes after the data'}: ${needs}, ${has}`);
}

/** Decodes the bytes of a .npy file; throws an Error starting with `source` when they are not one we read. */
export function decodeNpy(bytes: Uint8Array, source = 'array'): NpyArray {
  const fail: (why: string) => never = (why) => {
    throw new Error(`${source}: ${why}`);
  };
  const l = layout(bytes, fail);
  checkDataSize(l, bytes.length - l.dataStart, fail);
  const data = new DataView(bytes.buffer, bytes.byteOffset + l.dataStart, l.byteLength);
  return { source, dtype: l.dtype, shape: l.shape, size: l.size, data };
}

/** The header dictionary's three keys, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`. */
function parseHeader(
  header: string,
  fail: (why: string) => never,
): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) fail('structured dtypes are not supported');
    fail('bad header (no descr)');
  }
  if (!fortran || !shape) fail('bad header (no fortran_order or shape)');
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (!dims.every((s) => /^\d+L?$/.test(s))) fail(`bad header (shape (${shape[1]}))`);
  return { descr: descr[1], fortranOrder: fortran[1] === 'True', shape: dims.map((s) => Number.parseInt(s, 10)) };
}

function checkDtype(descr: string, fail: (why: string) => never): NpyDtype {
  const dtype = ALIASES[descr] ?? descr;
  if (dtype in ITEM_SIZE) return dtype as NpyDtype;
  if (descr.startsWith('>'))
    fail(`big-endian dtype ${descr} is not supported; save it little-endian (arr.astype('<${descr.slice(1)}'))`);
  return fail(`unsupported dtype ${descr}; expected float32, float64, uint8, bool, int32 or int64`);
}

/** The elements as float32 (float64 rounded, integers converted). */
export function npyToFloat32(array: NpyArray): Float32Array {
  const out = new Float32Array(array.size);
  const get = getter(array);
  for (let i = 0; i < out.length; i++) out[i] = get(i);
  return out;
}

/** The elements as int32 class indices: integer dtypes in range, or floats that hold whole numbers. */
export function npyToInt32(array: NpyArray): Int32Array {
  const out = new Int32Array(array.size);
  const get = getter(array);
  for (let i = 0; i < out.length; i++) {
    const v = get(i);
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
      throw new Error(`${array.source}: element ${i} = ${v} is not an int32 class index`);
    out[i] = v;
  }
  return out;
}

function getter(array: NpyArray): (i: number) => number {
  const d = array.data;
  switch (array.dtype) {
    case '<f4':
      return (i) => d.getFloat32(4 * i, true);
    case '<f8':
      return (i) => d.getFloat64(8 * i, true);
    case '<i4':
      return (i) => d.getInt32(4 * i, true);
    // int64 beyond 2^53 loses precision here; such values fail the range checks of their users anyway.
    case '<i8':
      return (i) => Number(d.getBigInt64(8 * i, true));
    case '|u1':
    case '|b1':
      return (i) => d.getUint8(i);
  }
}

/** The bytes of a version 1.0 .npy file holding `values` (float32, C order) with `shape`. */
export function encodeNpy(values: Float32Array, shape: readonly number[]): Uint8Array {
  const size = shape.reduce((n, d) => n * d, 1);
  if (size !== values.length)
    throw new RangeError(`shape (${shape.join(', ')}) has ${size} elements, the array ${values.length}`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // The payload starts on a 64-byte boundary; the header is padded with spaces and ends in '\n'.
  const headerLength = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const out = new Uint8Array(10 + headerLength + 4 * size);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, headerLength, true);
  out.set(new TextEncoder().encode(`${dict.padEnd(headerLength - 1, ' ')}\n`), 10);
  for (let i = 0; i < size; i++) view.setFloat32(10 + headerLength + 4 * i, values[i], true);
  return out;
}

/**
 * Reads and decodes a .npy file named by `flag` (or, without one, a file of the package). Only a
 * regular file is read (a FIFO, a device or a directory is an error naming the flag and path), and
 * its header is checked against its size before the data is read: memory never exceeds the size
 * that the header and the file agree on.
 */
export async function readNpy(path: string, flag?: string): Promise<NpyArray> {
  const source = describe(path, flag);
  const fail: (why: string) => never = (why) => {
    throw new Error(`${source}: ${why}`);
  };
  const file = await openRegularFile(path, source);
  try {
    // The prefix (at most 12 bytes), then the header, then (sizes agreeing) the whole file.
    const { start, headerLength } = prefix(await readAt(file, 0, Math.min(file.size, 12)), fail);
    if (file.size < start + headerLength) fail(`truncated header (${file.size} bytes in all)`);
    const l = layout(await readAt(file, 0, start + headerLength), fail);
    checkDataSize(l, file.size - l.dataStart, fail);
    if (file.size > kMaxLength) fail(`${file.size} bytes is more than can be read (${kMaxLength})`);
    const bytes = await readAt(file, 0, file.size);
    // The file shrank or grew since stat: what was read is not what the header described.
    if (bytes.length < file.size || (await readAt(file, file.size, 1)).length > 0)
      fail('the file changed while it was being read');
    return decodeNpy(bytes, source);
  } finally {
    await file.handle.close();
  }
}
