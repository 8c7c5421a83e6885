/**
 * Runs each table at its frequency and time of day (issue 5), one run per table at a time.
 *
 * The schedule lives in Postgres (`airmirror.tables.next_run_at`, `consecutive_failures`), so it
 * survives restarts and `status` can show it; NULL means "recompute from the config", which is
 * how scheduling-only changes take effect at the next run. Paused tables (`should_sync=false`)
 * and vanished ones are never picked. The run itself is the syncer's (`run` callback: its state
 * machine moves status/latest_error/last_synced_at); the scheduler adds what it owns: when the next
 * run is, backing off after failures, and clearing `resync_required` after a successful full run.
 *
 * Loop (a BackgroundLoop): a pass picks due tables and launches them (bounded concurrency), then
 * an abortable sleep until the earliest next run or `pollMs`, whichever is sooner; a run that
 * finishes wakes it for another pass (capacity freed). `stop()` aborts the sleep and the running
 * syncs and awaits them.
 *
 * It satisfies the management API's `TableRunner` (src/api/deps.ts) structurally: neither imports
 * the other.
 */
import {
  loadTable,
  recordRunFailure,
  recordRunStopped,
  recordRunSuccess,
  runLeftovers,
  schedulableTables,
  setNextRunIfUnset,
  type Table,
} from '../bookkeeping/index.ts';
import type { Database } from '../db/database.ts';
import { AirmirrorError, asAirmirrorError, conflict, notFound } from '../errors.ts';
import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import type { Logger } from '../log.ts';
import { systemClock, type Clock } from './clock.ts';
import { backoffMs, jitterMs, nextRunAt } from './schedule.ts';

export type ScheduledTable = Table;

export interface RunTableOptions {
  signal: AbortSignal;
  /** A full re-import (resync) rather than the table's normal run. */
  full: boolean;
}

export interface SchedulerOptions {
  db: Database;
  /** Runs one table (the syncer's `syncTable`). Rejects or leaves status `Failed` on failure. */
  run(table: ScheduledTable, opts: RunTableOptions): Promise<unknown>;
  clock?: Clock;
  /** [0, 1) for jitter; tests pass `() => 0`. */
  random?: () => number;
  log?: Logger;
  /** Longest sleep between passes, so config changes are noticed. Default 15 s. */
  pollMs?: number;
  /** Table runs at once across all sources. Default 2 (Airtable's budget is per base anyway). */
  maxConcurrent?: number;
  /** Called with any error a pass or run reports (after logging). */
  onError?: (err: unknown) => void;
}

export type RunOutcome = 'succeeded' | 'failed' | 'cancelled' | 'skipped';

interface Running {
  controller: AbortController;
  done: Promise<RunOutcome>;
}

export class Scheduler {
  private readonly db: Database;
  private readonly runTable: SchedulerOptions['run'];
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log?: Logger;
  private readonly pollMs: number;
  private readonly maxConcurrent: number;
  private readonly onError?: (err: unknown) => void;
  private readonly running = new Map<string, Running>();
  private readonly loop: BackgroundLoop;

  constructor(opts: SchedulerOptions) {
    this.db = opts.db;
    this.runTable = opts.run;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.log = opts.log;
    this.pollMs = opts.pollMs ?? 15_000;
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? 2);
    this.onError = opts.onError;
    this.loop = new BackgroundLoop({
      name: 'scheduler',
      pass: async () => Math.min(this.pollMs, await this.runPass()),
      intervalMs: this.pollMs,
      // A failed pass is retried after pollMs, not sooner nor later.
      retryMs: this.pollMs,
      maxRetryMs: this.pollMs,
      onError: (err) => this.report(err, 'scheduler pass failed'),
      // Woken early (stop, or a run finished) is not an error here.
      sleep: (ms, signal) => this.clock.sleep(ms, signal).catch(() => undefined),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops the loop, aborts running syncs (they stop cleanly, leaving the mirror consistent) and awaits them. */
  async stop(): Promise<void> {
    await this.loop.stop();
    for (const r of this.running.values()) r.controller.abort();
    await this.idle();
  }

  /** Resolves when no table run is in flight. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  isRunning(schemaId: string): boolean {
    return this.running.has(schemaId);
  }

  /**
   * One scheduling pass: launch every due table (up to the concurrency limit) and persist the
   * computed next run of tables that had none. Resolves with the ms until the next due table.
   */
  async runPass(): Promise<number> {
    const now = this.clock.now();
    const rows = await schedulableTables(this.db);
    let soonest = Number.POSITIVE_INFINITY;
    for (const t of rows) {
      if (this.running.has(t.id)) continue;
      let due = t.nextRunAt?.getTime() ?? null;
      if (due === null) {
        const next = nextRunAt(t, t.lastSyncedAt?.getTime() ?? null, now);
        if (next === null) continue;
        due = t.lastSyncedAt ? next + jitterMs(t, this.random) : next;
        await setNextRunIfUnset(this.db, t.id, new Date(due));
      }
      if (due > now) {
        soonest = Math.min(soonest, due - now);
        continue;
      }
      // Due but no capacity: a finishing run wakes the loop for another pass.
      if (this.running.size >= this.maxConcurrent) continue;
      this.launch(t, t.resyncRequired);
    }
    return soonest;
  }

  /** Runs a table now (reload / resync). 409 when it is already running. */
  async trigger(schemaId: string, opts: { full: boolean }): Promise<void> {
    if (this.running.has(schemaId)) {
      throw conflict('This table is already syncing; cancel it or wait', 'SCHEMA_RUNNING');
    }
    const t = await loadTable(this.db, schemaId);
    if (!t) throw notFound(`Schema ${schemaId} not found`);
    if (t.status === 'Running' || !this.launch(t, opts.full || t.resyncRequired)) {
      throw conflict('This table is already syncing; cancel it or wait', 'SCHEMA_RUNNING');
    }
  }

  async cancel(schemaId: string): Promise<boolean> {
    const r = this.running.get(schemaId);
    if (!r) return false;
    r.controller.abort(new AirmirrorError('CANCELLED', 499, 'sync cancelled'));
    await r.done;
    return true;
  }

  /** Starts a run unless one of this table is in flight (checked here, after any await). */
  private launch(t: ScheduledTable, full: boolean): boolean {
    if (this.running.has(t.id)) return false;
    const controller = new AbortController();
    const startedAt = this.clock.now();
    const done = this.execute(t, full, controller.signal, startedAt).finally(() => {
      this.running.delete(t.id);
      // Capacity freed: pass again now (or right after the pass in flight: no lost wake-up).
      this.loop.nudge();
    });
    this.running.set(t.id, { controller, done });
    return true;
  }

  private async execute(t: ScheduledTable, full: boolean, signal: AbortSignal, startedAt: number) {
    let thrown: unknown;
    let result: unknown;
    try {
      result = await this.runTable(t, { signal, full });
    } catch (err) {
      thrown = err;
    }
    let outcome: RunOutcome = 'succeeded';
    try {
      outcome = await this.settle(t, full, signal, startedAt, thrown, result);
    } catch (err) {
      this.report(err, 'could not record the outcome of a run');
    }
    return outcome;
  }

  /**
   * Decides the outcome of a run and reschedules. The syncer's `syncTable` resolves with a result
   * whose `status` says Completed / Failed / Cancelled / Skipped (it records failures rather than
   * throwing); a run that throws failed.
   */
  private async settle(
    t: ScheduledTable,
    full: boolean,
    signal: AbortSignal,
    startedAt: number,
    thrown: unknown,
    result: unknown,
  ): Promise<RunOutcome> {
    const now = this.clock.now();
    const cur = await runLeftovers(this.db, t.id);
    if (!cur) return 'cancelled'; // the table (or its source) was deleted meanwhile
    const reported = (result as { status?: unknown } | undefined)?.status;
    const outcome: RunOutcome =
      signal.aborted || reported === 'Cancelled'
        ? 'cancelled'
        : thrown !== undefined || reported === 'Failed'
          ? 'failed'
          : reported === 'Skipped'
            ? 'skipped'
            : 'succeeded';
    const regular = nextRunAt(t, startedAt, now);
    const scheduled = regular === null ? null : Math.max(regular + jitterMs(t, this.random), now);

    if (outcome === 'failed') {
      const reportedError = (result as { error?: unknown } | undefined)?.error;
      const message =
        thrown !== undefined
          ? oneLine(asAirmirrorError(thrown), thrown)
          : typeof reportedError === 'string'
            ? reportedError
            : cur.latestError;
      const failures = (t.consecutiveFailures ?? 0) + 1;
      // Retried sooner than a long period would allow, later and later for a short one;
      // a manual-only table (`never`) is not retried by itself.
      const retry = regular === null ? null : new Date(now + backoffMs(failures));
      await recordRunFailure(this.db, t, { failures, retryAt: retry, error: message });
      this.log?.warn({ schemaId: t.id, table: t.tableId, failures, error: message }, 'table sync failed');
      return outcome;
    }
    const next = scheduled === null ? null : new Date(scheduled);
    if (outcome === 'cancelled' || outcome === 'skipped') {
      await recordRunStopped(this.db, t, { nextRunAt: next, cancelled: outcome === 'cancelled' });
      return outcome;
    }
    await recordRunSuccess(this.db, t, {
      nextRunAt: next,
      // A run the syncer turned into a schema rebuild did not run the table's own sync type
      // (e.g. append never started its new history): the resync is still owed.
      resyncDone: full && (result as { rebuild?: unknown })?.rebuild !== true,
    });
    return outcome;
  }

  private report(err: unknown, msg: string): void {
    this.log?.error({ err }, msg);
    this.onError?.(err);
  }
}

/** A one-line error for latest_error: our errors' messages are safe to show; others are not. */
function oneLine(e: AirmirrorError, original: unknown): string {
  const text = e.code === 'INTERNAL_ERROR' && original instanceof Error ? original.message : e.message;
  return text.replace(/\s+/g, ' ').slice(0, 500);
}
