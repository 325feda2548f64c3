// NumPy .npy files (format versions 1.0, 2.0 and 3.0; C order, little-endian): decoding into the
// typed arrays the API takes, and encoding float32 results. Every error names the file.

import { readFile, writeFile } from 'node:fs/promises';

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

/** Decodes the bytes of a .npy file; throws an Error starting with `source` when they are not one we read. */
export function decodeNpy(bytes: Uint8Array, source = 'array'): NpyArray {
  const fail: (why: string) => never = (why) => {
    throw new Error(`${source}: ${why}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (bad magic string)');
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) fail(`unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) fail('truncated header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lengthBytes;
  if (bytes.length < start + headerLength) fail('truncated header');
  // Version 3.0 allows UTF-8 in the header (field names); 1.0 and 2.0 are latin-1, a subset here.
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const { descr, fortranOrder, shape } = parseHeader(header, fail);
  if (fortranOrder) fail('Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)');
  const dtype = checkDtype(descr, fail);
  const size = shape.reduce((n, d) => n * d, 1);
  const dataStart = start + headerLength;
  const byteLength = size * ITEM_SIZE[dtype];
  if (bytes.length - dataStart < byteLength)
    fail(
      `truncated data: shape (${shape.join(', ')}) needs ${byteLength} bytes, the file has ${bytes.length - dataStart}`,
    );
  return { source, dtype, shape, size, data: new DataView(bytes.buffer, bytes.byteOffset + dataStart, byteLength) };
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

/** Reads and decodes a .npy file; a missing or unreadable file is an Error naming the path. */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${(error as Error).message})`);
  }
  return decodeNpy(bytes, path);
}

/** Writes `values` as a float32 .npy file of `shape`. */
export async function writeNpy(path: string, values: Float32Array, shape: readonly number[]): Promise<void> {
  try {
    await writeFile(path, encodeNpy(values, shape));
  } catch (error) {
    throw new Error(`${path}: cannot write (${(error as Error).message})`);
  }
}
