// The progress bar of a long eval: drawn on stderr when it is a terminal, from the loss call's
// onProgress reports, once the call has run for a second; at most ten redraws a second; the line is
// cleared when the call ends, so nothing of it stays on the screen or reaches stdout.

/** Where the bar is drawn: process.stderr, or a stand-in in tests. */
export interface BarStream {
  write(text: string): unknown;
  columns?: number;
}

export interface ProgressOptions {
  /** Milliseconds of work before the bar first shows (default 1000). */
  delayMs?: number;
  /** Least milliseconds between two draws (default 100). */
  intervalMs?: number;
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[K';

export class ProgressBar {
  readonly #started: number;
  readonly #delayMs: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #shown = false;
  #done = 0;
  #total = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  readonly #stream: BarStream;
  readonly #label: string;

  constructor(stream: BarStream, label: string, options: ProgressOptions = {}) {
    this.#stream = stream;
    this.#label = label;
    this.#now = options.now ?? (() => performance.now());
    this.#delayMs = options.delayMs ?? 1000;
    this.#intervalMs = options.intervalMs ?? 100;
    this.#started = this.#now();
    // Between reports the elapsed time still moves (the kernels give the event loop back often).
    this.#timer = setInterval(() => this.#draw(), this.#intervalMs);
    this.#timer.unref?.();
  }

  /** The call's onProgress: records the report and redraws when one is due. */
  readonly update = (done: number, total: number): void => {
    this.#done = done;
    this.#total = total;
    this.#draw();
  };

  /** Stops drawing and clears the bar's line (if it was ever drawn). */
  finish(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#shown) this.#stream.write(CLEAR_LINE);
    this.#shown = false;
  }

  #draw(): void {
    if (this.#timer === undefined || this.#total <= 0) return;
    const t = this.#now();
    if (t - this.#started < this.#delayMs || t - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = t;
    this.#shown = true;
    this.#stream.write(CLEAR_LINE + this.#line((t - this.#started) / 1000));
  }

  /** `info-nce [#########...........]  45%  2.3 s`, as wide as the terminal allows (bar 10 to 40). */
  #line(seconds: number): string {
    const fraction = Math.min(1, Math.max(0, this.#done / this.#total));
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const time = `${seconds.toFixed(1)} s`;
    const room = (this.#stream.columns || 80) - this.#label.length - percent.length - time.length - 7;
    const width = Math.max(10, Math.min(40, room));
    const filled = Math.round(fraction * width);
    return `${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}  ${time}`;
  }
}
