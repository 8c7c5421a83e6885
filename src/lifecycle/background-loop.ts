import { abortableSleep, untilAborted } from './clock.ts';

/** What a loop reports through: a pino logger fits. */
export interface LoopLog {
  warn(obj: object, msg: string): void;
}

export interface BackgroundLoopOptions {
  /** Names the loop in log lines ("catch-up", "event delivery", …). */
  name: string;
  /**
   * One pass of the work. `signal` aborts when the loop stops: a pass that takes long should pass
   * it on. Resolves with how long to wait before the next pass (ms; `Infinity` waits for a nudge),
   * or undefined for `intervalMs`.
   * A rejection is reported and the next pass comes after the retry delay.
   */
  pass(signal: AbortSignal): Promise<number | undefined | void>;
  /** The wait between passes when a pass names none. `Infinity`: until nudged (or stopped). */
  intervalMs: number;
  /** The wait after a failed pass; it doubles with each failure in a row, up to `maxRetryMs`. Default: intervalMs. */
  retryMs?: number;
  /** Default: 30 s, or retryMs when that is larger. */
  maxRetryMs?: number;
  /** Wait before the first pass (default 0: at once). */
  initialDelayMs?: number;
  log?: LoopLog;
  /** Called with every error a pass threw, after it was logged. */
  onError?(err: unknown): void;
  /** The abortable wait between passes (tests pass a fake clock's); must resolve, never reject, on abort. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>;
}

/**
 * A background loop with one lifecycle: `start()` runs passes until `stop()`, which aborts the
 * running pass's signal and the wait, and resolves once the pass in flight has settled. A failed
 * pass never ends the loop (failure is normal: Postgres restarts, Airtable answers 503); it is
 * logged and retried with a growing delay. `nudge()` ends the current wait at once, and a nudge that
 * comes during a pass makes the next pass start right after it, so no wake-up is lost.
 */
export class BackgroundLoop {
  private readonly opts: BackgroundLoopOptions;
  private stopping = new AbortController();
  private wake = new AbortController();
  private nudged = false;
  private running?: Promise<void>;
  private failures = 0;

  constructor(opts: BackgroundLoopOptions) {
    this.opts = opts;
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  /** Consecutive failed passes (0 after a pass that succeeded). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  start(): void {
    if (this.running) return;
    this.stopping = new AbortController();
    this.running = this.loop();
  }

  nudge(): void {
    this.nudged = true;
    this.wake.abort();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake.abort();
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    const sleep = this.opts.sleep ?? abortableSleep;
    const stop = this.stopping.signal;
    if (this.opts.initialDelayMs) await this.sleepUnlessNudged(sleep, this.opts.initialDelayMs, stop);
    while (!stop.aborted) {
      this.nudged = false;
      let wait: number;
      try {
        const next = await this.opts.pass(stop);
        this.failures = 0;
        wait = typeof next === 'number' ? next : this.opts.intervalMs;
      } catch (err) {
        if (stop.aborted) break;
        this.failures++;
        wait = this.retryDelay();
        this.opts.log?.warn(
          { err: err instanceof Error ? err.message : String(err), failures: this.failures, retryInMs: wait },
          `${this.opts.name} failed; retrying`,
        );
        try {
          this.opts.onError?.(err);
        } catch {
          // a reporter's own failure must not end the loop
        }
      }
      if (stop.aborted) break;
      await this.sleepUnlessNudged(sleep, wait, stop);
    }
  }

  private async sleepUnlessNudged(
    sleep: NonNullable<BackgroundLoopOptions['sleep']>,
    ms: number,
    stop: AbortSignal,
  ): Promise<void> {
    if (this.nudged || ms <= 0) return;
    this.wake = new AbortController();
    const signal = AbortSignal.any([stop, this.wake.signal]);
    if (ms === Infinity) await untilAborted(signal);
    else await sleep(ms, signal);
  }

  private retryDelay(): number {
    const base = this.opts.retryMs ?? this.opts.intervalMs;
    const max = Math.max(this.opts.maxRetryMs ?? 30_000, base);
    return Math.min(max, base * 2 ** Math.min(this.failures - 1, 20));
  }
}
