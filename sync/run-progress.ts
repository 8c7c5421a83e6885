import { abortableSleep } from '../src/lifecycle/clock.ts';
import type { Queryable } from '../src/db/database.ts';
import { sql, type Sql } from '../src/db/sql.ts';
import type { Logger } from '../src/log.ts';
import { oneLine } from './one-line.ts';
import type { RunCounters } from '../src/bookkeeping/runs.ts';

/** How often the counters of running syncs reach `airmirror.sync_runs`. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 2_000;

/** Clamp to Postgres integer, as finishRun does. */
const int = (n: number) => Math.min(Math.max(0, Math.trunc(n)), 2_147_483_647);

/**
 * One statement for every open run: its counters so far. Only rows still `running` are touched,
 * so a write that races the run's end (finishRun) never overwrites its final figures.
 */
export function progressUpdate(runs: [string, RunCounters][]): Sql {
  return sql(
    `UPDATE airmirror.sync_runs AS r SET
       requests = v.requests, records_seen = v.seen, records_upserted = v.upserted
     FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int[]) AS v(id, requests, seen, upserted)
     WHERE r.id = v.id AND r.status = 'running'`,
    [
      runs.map(([id]) => id),
      runs.map(([, c]) => int(c.requests)),
      runs.map(([, c]) => int(c.seen)),
      runs.map(([, c]) => int(c.inserted + c.updated)),
    ],
  );
}

/**
 * The table runs in progress and their live counters. A first sync of a large base takes minutes
 * at Airtable's 5 requests/s; `status` (the API, or `airmirror status` in another process) shows
 * how far it has got because this loop writes the counters every `intervalMs`. The counters are
 * the run's own objects, read at each pass; nothing is copied on the hot path.
 */
export class RunProgress {
  private readonly open = new Map<string, RunCounters>();
  private readonly intervalMs: number;
  private stopping = new AbortController();
  private running?: Promise<void>;

  constructor(
    private readonly db: Queryable,
    private readonly log: Pick<Logger, 'warn'>,
    opts: { intervalMs?: number } = {},
  ) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  }

  track(runId: string, counters: RunCounters): void {
    this.open.set(runId, counters);
  }

  untrack(runId: string): void {
    this.open.delete(runId);
  }

  /** Writes the counters of every open run now; resolves with how many runs were written. */
  async flush(): Promise<number> {
    if (this.open.size === 0) return 0;
    const runs = [...this.open];
    await this.db.query(progressUpdate(runs));
    return runs.length;
  }

  start(): void {
    if (this.running) return;
    this.stopping = new AbortController();
    this.running = this.loop();
  }

  /** Stops the loop; awaits the pass in flight. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      await abortableSleep(this.intervalMs, this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      // Progress is a convenience: a failed write is reported and tried again next time.
      await this.flush().catch((err: unknown) =>
        this.log.warn({ err: oneLine(err) }, 'could not record sync progress'),
      );
    }
  }
}
