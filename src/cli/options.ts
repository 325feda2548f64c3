// Parsing the command line's flags into typed values; every mistake is a UsageError naming the flag.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { EngineOptions } from '../types.js';
import { UsageError } from './errors.js';

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs (strict), its errors turned into one-line UsageErrors that point at `help`. */
export function parseFlags(args: string[], options: FlagSpec, help: string) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs explains how to pass a positional that starts with '-'; its first sentence is the news.
    const first = (error as Error).message.split(/\.\s/)[0].replace(/\.$/, '');
    throw new UsageError(`${first.charAt(0).toLowerCase()}${first.slice(1)} (see ${help})`);
  }
}

// parseArgs refuses `--ignore-index -100` as ambiguous (the value looks like an option); a number
// after a flag that takes a value can only be that value, so it becomes `--ignore-index=-100`.
function joinNegativeValues(args: string[], options: FlagSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return out.concat(args.slice(i));
    const name = args[i].startsWith('--') ? args[i].slice(2) : '';
    const next = args[i + 1];
    if (options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** A finite number, or undefined when the flag is absent. */
export function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} expects a number; got '${value}'`);
  return n;
}

/** An integer, or undefined when the flag is absent. */
export function integerFlag(value: string | undefined, flag: string): number | undefined {
  const n = numberFlag(value, flag);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`--${flag} expects an integer; got '${value}'`);
  return n;
}

/** One of `choices`, or undefined when the flag is absent. */
export function choiceFlag<T extends string>(
  value: string | undefined,
  flag: string,
  choices: readonly T[],
): T | undefined {
  if (value === undefined || choices.includes(value as T)) return value as T | undefined;
  throw new UsageError(`--${flag} must be one of ${choices.join(', ')}; got '${value}'`);
}

/** A comma-separated list of numbers (`0.0892,0.9108`), or undefined when the flag is absent. */
export function listFlag(value: string | undefined, flag: string): number[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',');
  const numbers = items.map(Number);
  if (items.some((s) => s.trim() === '') || !numbers.every(Number.isFinite)) {
    throw new UsageError(`--${flag} expects comma-separated numbers such as 0.0892,0.9108; got '${value}'`);
  }
  return numbers;
}

/** The engine options of `--threads` (a count or 'auto') and `--backend`. */
export function engineFlags(values: { threads?: string; backend?: string }): EngineOptions {
  const options: EngineOptions = {};
  if (values.threads !== undefined) {
    const n = Number(values.threads);
    if (values.threads !== 'auto' && !(Number.isInteger(n) && n >= 1))
      throw new UsageError(`--threads expects a positive integer or 'auto'; got '${values.threads}'`);
    options.threads = values.threads === 'auto' ? 'auto' : n;
  }
  options.backend = choiceFlag(values.backend, 'backend', ['auto', 'wasm', 'webgpu'] as const);
  return options;
}

/** The flags every command shares. */
export const ENGINE_FLAGS = {
  threads: { type: 'string' },
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies FlagSpec;
