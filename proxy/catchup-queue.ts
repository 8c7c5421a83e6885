import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { insertCatchup, markNeedsCatchup } from '../src/catchup/store.ts';
import type { CatchupItem, CatchupSink } from '../src/catchup/types.ts';

/** Durable local copy of queued items until Postgres has them (a file on Node; none on Workers). */
export interface CatchupJournal {
  append(items: CatchupItem[]): void;
  load(): CatchupItem[];
  clear(): void;
}

export interface CatchupQueueOptions {
  db: Pick<Database, 'tx'>;
  journal?: CatchupJournal;
  /** Pause between attempts while Postgres does not answer. */
  retryMs?: number;
  log?: Pick<Logger, 'warn' | 'info'>;
  /** Called after items reached `airmirror.catchup` (e.g. to nudge the syncer's drain). */
  onPersisted?: (count: number) => void;
}

/**
 * In-process retry queue for writes the mirror could not apply (invariant 5). `enqueue` is
 * synchronous: the item is in memory and in the journal before the app gets its answer. A
 * background loop moves items into `airmirror.catchup` (and flags the table) as soon as Postgres
 * answers; the journal is cleared once nothing is left in memory.
 */
export class CatchupQueue implements CatchupSink {
  private items: CatchupItem[] = [];
  private running = false;
  private pass: Promise<void> | undefined;
  private flushing: Promise<number> | undefined;
  private wake: AbortController = new AbortController();
  private readonly retryMs: number;

  constructor(private readonly opts: CatchupQueueOptions) {
    this.retryMs = opts.retryMs ?? 1_000;
  }

  enqueue(items: CatchupItem[]): void {
    if (items.length === 0) return;
    try {
      this.opts.journal?.append(items);
    } catch (err) {
      this.opts.log?.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'catch-up journal append failed',
      );
    }
    this.items.push(...items);
    this.wake.abort();
  }

  /** Items not yet in Postgres. */
  pending(): number {
    return this.items.length;
  }

  /** Moves everything pending into Postgres now; throws when Postgres does not answer. */
  async flush(): Promise<number> {
    // One flush at a time: two would both remove the same prefix of the queue.
    const previous = this.flushing;
    const run = (async () => {
      await previous?.catch(() => undefined);
      return this.flushOnce();
    })();
    this.flushing = run;
    try {
      return await run;
    } finally {
      if (this.flushing === run) this.flushing = undefined;
    }
  }

  private async flushOnce(): Promise<number> {
    const batch = this.items.slice();
    if (batch.length === 0) return 0;
    const groups = new Map<string, Map<string, CatchupItem>>();
    for (const item of batch) {
      const key = JSON.stringify([item.baseId, item.tableRef]);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = new Map()));
      g.set(item.recordId, item); // the latest op for a record wins
    }
    await this.opts.db.tx(async (tx) => {
      for (const g of groups.values()) {
        const items = [...g.values()];
        await tx.query(insertCatchup(items[0].baseId, items[0].tableRef, items));
        await tx.query(markNeedsCatchup(items[0].baseId, items[0].tableRef));
      }
    });
    // Items enqueued while we wrote are behind `batch` and stay queued.
    this.items.splice(0, batch.length);
    if (this.items.length === 0) this.opts.journal?.clear();
    this.opts.onPersisted?.(batch.length);
    return batch.length;
  }

  /** Loads what an earlier process journaled but did not get into Postgres, then runs the loop. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const carried = this.opts.journal?.load() ?? [];
    if (carried.length > 0) {
      this.items.unshift(...carried);
      this.opts.log?.info({ count: carried.length }, 'catch-up: resuming journaled items');
    }
    this.pass = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake.abort();
    await this.pass;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let wait: number | undefined;
      if (this.items.length > 0) {
        try {
          await this.flush();
        } catch (err) {
          this.opts.log?.warn(
            { pending: this.items.length, err: err instanceof Error ? err.message : String(err) },
            'catch-up: Postgres unavailable; will retry',
          );
          wait = this.retryMs;
        }
      }
      if (!this.running) break;
      if (this.items.length === 0 || wait !== undefined) await this.sleep(wait);
    }
  }

  /** Sleeps `ms` (or until woken when undefined); `enqueue` and `stop` wake it early. */
  private sleep(ms: number | undefined): Promise<void> {
    if (this.wake.signal.aborted) this.wake = new AbortController();
    const signal = this.wake.signal;
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
