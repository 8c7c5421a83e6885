import { abortableSleep } from '../lifecycle/clock.ts';
import { drainCatchup, type FetchRecordsByIds } from './drain.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';

export interface CatchupLoopOptions {
  db: Database;
  fetchRecords: FetchRecordsByIds;
  log: Logger;
  /** How often to look for queued ids when nobody nudged us (default 30 s). */
  intervalMs?: number;
  /** After a failed pass (Postgres or Airtable still down), wait this long (default 10 s). */
  retryMs?: number;
}

/**
 * Drains the proxy's catch-up queue (invariant 5): records whose write Airtable accepted but the
 * mirror could not apply are re-fetched and applied. Woken at once by `nudge()` (the proxy
 * calls it when ids reach Postgres) and otherwise every `intervalMs`, so ids queued by a proxy
 * in another process (the Workers runtime) are drained too. `stop()` awaits the running pass.
 */
export class CatchupLoop {
  private readonly intervalMs: number;
  private readonly retryMs: number;
  private stopping = new AbortController();
  private wake = new AbortController();
  private running?: Promise<void>;

  constructor(private readonly opts: CatchupLoopOptions) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.retryMs = opts.retryMs ?? 10_000;
  }

  start(): void {
    if (this.running) return;
    this.stopping = new AbortController();
    this.running = this.loop();
  }

  nudge(): void {
    this.wake.abort();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake.abort();
    await this.running;
    this.running = undefined;
  }

  /** One drain until the queue is empty or a pass leaves ids behind; resolves with what it did. */
  async pass(): Promise<{ applied: number; deleted: number; remaining: number }> {
    const total = { applied: 0, deleted: 0, remaining: 0 };
    for (;;) {
      const r = await drainCatchup({
        db: this.opts.db,
        fetchRecords: this.opts.fetchRecords,
        log: this.opts.log,
      });
      total.applied += r.applied;
      total.deleted += r.deleted;
      total.remaining = r.remaining;
      // Stop when done, or when a pass made no progress (the rest waits for the next wake-up).
      if (r.remaining === 0 || r.applied + r.deleted === 0) return total;
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      this.wake = new AbortController();
      let wait = this.intervalMs;
      try {
        const r = await this.pass();
        if (r.applied + r.deleted > 0) this.opts.log.info(r, 'catch-up of proxy writes applied');
        if (r.remaining > 0) wait = this.retryMs;
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'catch-up pass failed; will retry');
        wait = this.retryMs;
      }
      await abortableSleep(wait, AbortSignal.any([this.stopping.signal, this.wake.signal]));
    }
  }
}
