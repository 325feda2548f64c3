// The command line's dealings with the file system, distrustful of what it is given: inputs are
// read only when they are regular files, with reads bounded by the size stat reports; outputs are
// never one of the inputs (or each other), and are written to a temporary file in the same
// directory that is renamed into place, so a failed write leaves nothing behind.

import { constants, type Stats } from 'node:fs';
import { chmod, type FileHandle, open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** How a file is named in messages: `--features f.npy`, or the bare path when no flag gave it. */
export function describe(path: string, flag?: string): string {
  return flag === undefined ? path : `--${flag} ${path}`;
}

/** What kind of file `s` is, for a message ("a directory", "a FIFO", ...). */
function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

function errnoMessage(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'no such file' : `cannot read (${e.message})`;
}

/** An open regular file and its size (bytes), as stat reported it before anything was read. */
export interface InputFile {
  handle: FileHandle;
  size: number;
}

/**
 * Opens `path` for reading when it is a regular file. It is stat'ed first, so a FIFO is never
 * opened (open() would wait for a writer) nor a device read (/dev/zero never ends); the open is
 * also non-blocking and re-checked with fstat, in case the path was swapped in between.
 */
export async function openRegularFile(path: string, name: string): Promise<InputFile> {
  let before: Stats;
  try {
    before = await stat(path);
  } catch (error) {
    throw new Error(`${name}: ${errnoMessage(error)}`);
  }
  if (!before.isFile()) throw new Error(`${name}: ${kindOf(before)}, not a regular file; inputs must be .npy files`);
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw new Error(`${name}: ${errnoMessage(error)}`);
  }
  const now = await handle.stat();
  if (!now.isFile() || now.ino !== before.ino || now.dev !== before.dev) {
    await handle.close();
    throw new Error(`${name}: the file changed while it was being opened`);
  }
  return { handle, size: now.size };
}

/** Reads `length` bytes at `position`; fewer only when the file ends first (it shrank). */
export async function readAt(file: InputFile, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await file.handle.read(out, filled, length - filled, position + filled);
    if (bytesRead === 0) return out.subarray(0, filled);
    filled += bytesRead;
  }
  return out;
}

/** The flags of the eval command that name files it reads, and those that name files it writes. */
export const INPUT_FLAGS = ['features', 'mask', 'logits', 'target', 'target-probs'] as const;
export const OUTPUT_FLAGS = ['grad-out', 'grad-logits-out'] as const;
export type OutputFlag = (typeof OUTPUT_FLAGS)[number];

interface Located {
  flag: string;
  path: string;
  /** The path with symbolic links resolved (as far as the file, or its directory, exists). */
  real: string;
  /** The file's stat (links followed), null when it does not exist. */
  stats: Stats | null;
}

async function locate(flag: string, path: string): Promise<Located> {
  const absolute = resolve(path);
  const stats = await stat(absolute).catch(() => null);
  let real = await realpath(absolute).catch(() => null);
  // A file still to be written: its directory's real path, and its name.
  real ??= await realpath(dirname(absolute)).then(
    (dir) => join(dir, basename(absolute)),
    () => absolute,
  );
  return { flag, path, real, stats };
}

const sameFile = (a: Located, b: Located) =>
  a.real === b.real ||
  (a.stats !== null && b.stats !== null && a.stats.dev === b.stats.dev && a.stats.ino === b.stats.ino);

/**
 * Checks the output flags against the inputs and each other before any work: an output that is an
 * input (the same path, or the same file through a link) or another output is a usage error, and so
 * is one that exists but is not a regular file (a directory, /dev/null: renaming over it would
 * replace it). Returns where each output is to be written (links followed).
 */
export async function checkOutputs(
  values: Partial<Record<string, string | boolean>>,
): Promise<Partial<Record<OutputFlag, string>>> {
  const paths = (flags: readonly string[]) =>
    flags.flatMap((flag) => (typeof values[flag] === 'string' ? [[flag, values[flag] as string] as const] : []));
  const inputs = await Promise.all(paths(INPUT_FLAGS).map(([flag, path]) => locate(flag, path)));
  const outputs: Located[] = [];
  const targets: Partial<Record<OutputFlag, string>> = {};
  for (const [flag, path] of paths(OUTPUT_FLAGS)) {
    if (path === '') throw new UsageError(`--${flag} needs a file name`);
    const out = await locate(flag, path);
    const input = inputs.find((i) => sameFile(i, out));
    if (input)
      throw new UsageError(
        `--${flag} ${path} is the same file as the input --${input.flag} ${input.path}; refusing to overwrite an input`,
      );
    const other = outputs.find((o) => sameFile(o, out));
    if (other) throw new UsageError(`--${flag} ${path} is the same file as --${other.flag} ${other.path}`);
    if (out.stats && !out.stats.isFile())
      throw new UsageError(`--${flag} ${path}: ${kindOf(out.stats)}, not a regular file; outputs must be files`);
    outputs.push(out);
    targets[flag as OutputFlag] = out.real;
  }
  return targets;
}

// Node's message without the temporary file's name ("EACCES: permission denied, open '/d/.g.npy.1.x.tmp'").
const reason = (error: unknown) => (error as Error).message.replace(/, \w+ '.*'$/s, '');

/** A file written next to its destination, not yet in place. */
interface Staged {
  temp: string;
  target: string;
}

async function stage(target: string, bytes: Uint8Array): Promise<Staged> {
  const temp = join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`,
  );
  const handle = await open(temp, 'wx', 0o666);
  try {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
    await handle.sync();
    // Replacing a file keeps its permissions.
    const old = await stat(target).catch(() => null);
    if (old) await chmod(temp, old.mode & 0o7777);
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  return { temp, target };
}

/**
 * Writes every file or none: each goes to a temporary file in its destination's directory, and
 * only once all are written are they renamed into place. On failure the temporary files are
 * removed, existing files at the destinations are left as they were, and the error names the flag.
 */
export async function writeAll(files: { flag: string; path: string; target: string; bytes: Uint8Array }[]) {
  const staged: Staged[] = [];
  try {
    for (const f of files) {
      try {
        staged.push(await stage(f.target, f.bytes));
      } catch (error) {
        const none = files.length > 1 ? '; no output was written' : '';
        throw new Error(`${describe(f.path, f.flag)}: cannot write (${reason(error)})${none}`);
      }
    }
    for (const [i, s] of staged.entries()) {
      try {
        await rename(s.temp, s.target);
      } catch (error) {
        const f = files[i];
        throw new Error(`${describe(f.path, f.flag)}: cannot write (${reason(error)})`);
      }
    }
  } catch (error) {
    await Promise.all(staged.map((s) => unlink(s.temp).catch(() => {})));
    throw error;
  }
}
