import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { saveCatchupItems } from '../src/catchup/store.ts';
import { BackgroundLoop } from '../src/lifecycle/background-loop.ts';
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
  private flushing: Promise<number> | undefined;
  private readonly loop: BackgroundLoop;

  constructor(private readonly opts: CatchupQueueOptions) {
    const retryMs = opts.retryMs ?? 1_000;
    this.loop = new BackgroundLoop({
      name: 'moving catch-up ids into Postgres',
      // Idle until `enqueue` nudges; after a failure, the same short pause each time (ids wait in memory).
      intervalMs: Infinity,
      retryMs,
      maxRetryMs: retryMs,
      log: opts.log,
      pass: async () => {
        if (this.items.length > 0) await this.flush();
        // Items enqueued during the flush are still pending: go again at once.
        return this.items.length > 0 ? 0 : Infinity;
      },
    });
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
    this.loop.nudge();
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
    await this.opts.db.tx((tx) => saveCatchupItems(tx, batch));
    // Items enqueued while we wrote are behind `batch` and stay queued.
    this.items.splice(0, batch.length);
    if (this.items.length === 0) this.opts.journal?.clear();
    this.opts.onPersisted?.(batch.length);
    return batch.length;
  }

  /** Loads what an earlier process journaled but did not get into Postgres, then runs the loop. */
  start(): void {
    if (this.loop.started) return;
    const carried = this.opts.journal?.load() ?? [];
    if (carried.length > 0) {
      this.items.unshift(...carried);
      this.opts.log?.info({ count: carried.length }, 'catch-up: resuming journaled items');
    }
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
