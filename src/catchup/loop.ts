import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import { drainCatchup, type DrainResult, type FetchRecordsByIds } from './drain.ts';
import type { BaseWork } from '../bookkeeping/ownership.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { catchupSources } from './store.ts';

export interface CatchupLoopOptions {
  db: Database;
  fetchRecords: FetchRecordsByIds;
  log: Logger;
  /** How often to look for queued ids when nobody nudged us (default 30 s). */
  intervalMs?: number;
  /**
   * After a failed pass, or one that left ids behind (Postgres or Airtable still down), wait this
   * long (default 10 s).
   */
  retryMs?: number;
  /**
   * Many processes (docs/ownership.md): each source's queue is drained by the owner of its base,
   * on its lease, never by two processes at once. Without it, this process drains every source.
   */
  owner?: BaseWork;
}

/**
 * Drains the proxy's catch-up queue (invariant 5): records whose write Airtable accepted but the
 * mirror could not apply are re-fetched and applied. Woken at once by `nudge()` (the proxy
 * calls it when ids reach Postgres) and otherwise every `intervalMs`, so ids queued by a proxy
 * in another process (the Workers runtime) are drained too. `stop()` awaits the running pass.
 */
export class CatchupLoop {
  private readonly loop: BackgroundLoop;

  constructor(private readonly opts: CatchupLoopOptions) {
    const retryMs = opts.retryMs ?? 10_000;
    this.loop = new BackgroundLoop({
      name: 'catch-up of proxy writes',
      intervalMs: opts.intervalMs ?? 30_000,
      // Not growing: a pass fails when Postgres does not answer; a retry is one attempt to connect.
      retryMs,
      maxRetryMs: retryMs,
      log: opts.log,
      pass: async () => {
        const r = await this.pass();
        if (r.applied + r.deleted > 0) this.opts.log.info(r, 'catch-up of proxy writes applied');
        return r.remaining > 0 ? retryMs : undefined;
      },
    });
  }

  start(): void {
    this.loop.start();
  }

  nudge(): void {
    this.loop.nudge();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** One drain until the queue is empty or a pass leaves ids behind; resolves with what it did. */
  async pass(): Promise<DrainResult> {
    const { owner, db } = this.opts;
    if (!owner) return this.drain(db);
    const total = { applied: 0, deleted: 0, remaining: 0 };
    const sources = (await db.query<{ source_id: string }>(catchupSources())).rows.map((r) => r.source_id);
    for (const sourceId of sources) {
      const lease = await owner.enter(sourceId);
      if (!lease) continue; // another process owns the base: it drains this queue
      try {
        const r = await this.drain(lease.db, sourceId);
        total.applied += r.applied;
        total.deleted += r.deleted;
        total.remaining += r.remaining;
      } finally {
        lease.release();
      }
    }
    return total;
  }

  private async drain(db: Database, sourceId?: string): Promise<DrainResult> {
    const total = { applied: 0, deleted: 0, remaining: 0 };
    for (;;) {
      const r = await drainCatchup({
        db,
        sourceId,
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
}
