import { BackgroundLoop } from '../src/lifecycle/background-loop.ts';
import type { Queryable } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { oneLine } from './one-line.ts';
import { recordProgress, type RunCounters } from '../src/bookkeeping/runs.ts';

/** How often the counters of running syncs reach `airmirror.sync_runs`. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 2_000;

/**
 * The table runs in progress and their live counters. A first sync of a large base takes minutes
 * at Airtable's 5 requests/s; `status` (the API, or `airmirror status` in another process) shows
 * how far it has got because this loop writes the counters every `intervalMs`. The counters are
 * the run's own objects, read at each pass; nothing is copied on the hot path.
 */
export class RunProgress {
  private readonly open = new Map<string, RunCounters>();
  private readonly loop: BackgroundLoop;

  constructor(
    private readonly db: Queryable,
    private readonly log: Pick<Logger, 'warn'>,
    opts: { intervalMs?: number } = {},
  ) {
    const intervalMs = opts.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    this.loop = new BackgroundLoop({
      name: 'sync progress',
      // The first write comes one interval after start, like every other.
      initialDelayMs: intervalMs,
      intervalMs,
      // Progress is a convenience: a failed write is reported and tried again next time.
      pass: () =>
        this.flush().then(
          () => undefined,
          (err: unknown) => this.log.warn({ err: oneLine(err) }, 'could not record sync progress'),
        ),
    });
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
    await recordProgress(this.db, runs);
    return runs.length;
  }

  start(): void {
    this.loop.start();
  }

  /** Stops the loop; awaits the pass in flight. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
