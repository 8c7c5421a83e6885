/**
 * The emulator's clock: wall time (or an injected clock) plus an offset that tests move with
 * `control.advanceClock` / `control.setClock`, so TTLs, rate-limit windows and penalties can be
 * exercised without sleeping.
 */
export class EmulatorClock {
  private offset = 0;
  constructor(private readonly base: () => number = Date.now) {}

  now(): number {
    return this.base() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
  set(ms: number): void {
    this.offset = ms - this.base();
  }
  iso(): string {
    return new Date(this.now()).toISOString();
  }
}

/** Waits `ms` of wall time, or less when `signal` aborts; never rejects (the retry loop's pause). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
