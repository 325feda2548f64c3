// How the command line fails: one line on stderr, exit code 2 for a wrong command line and 1 for
// everything else (unreadable inputs, inputs the losses reject).

/** A mistake in the command line itself (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The exit code for an error: 2 for usage errors (ours or node:util parseArgs's), 1 otherwise. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return 2;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_') ? 2 : 1;
}

/** The error as one line (the library's own messages already carry the tool's prefix; it is dropped). */
export function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/^forgery-losses: /, '').replace(/\s*\n\s*/g, ' ');
}
