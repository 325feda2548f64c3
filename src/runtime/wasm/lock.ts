// One task at a time on an instance: a task that yields between its steps keeps its buffers in
// the arena, so another task (or call) waits for it instead of resetting them.

export class ArenaLock {
  #queue: Promise<unknown> = Promise.resolve();
  #holders = 0;

  /** True while a task holds (or waits for) the arena. */
  get busy(): boolean {
    return this.#holders > 0;
  }

  /** Runs `task` alone: at once, in this turn, if the lock is free (it reads its inputs before the caller goes on). */
  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#holders++ === 0 ? new Promise<T>((resolve) => resolve(task())) : this.#queue.then(task);
    this.#queue = run.then(
      () => this.#holders--,
      () => this.#holders--,
    );
    return run;
  }
}
