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
 * Loop: a pass picks due tables and launches them (bounded concurrency), then an abortable sleep
 * until the earliest next run or `pollMs`, whichever is sooner. `stop()` aborts the sleep and the
 * running syncs and awaits them.
 */
import type { Database } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { AirmirrorError, asAirmirrorError, conflict, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { TableRunner } from '../api/deps.ts';
import { all, getTable, one, type TableRow } from '../api/store.ts';
import { systemClock, type Clock } from './clock.ts';
import { backoffMs, jitterMs, nextRunAt } from './schedule.ts';

export type ScheduledTable = TableRow;

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

const DUE_TABLES = `SELECT t.*, s.schema_name, s.base_id
  FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id
  WHERE t.should_sync AND t.vanished_at IS NULL AND t.sync_frequency <> 'never'
    AND t.status IS DISTINCT FROM 'Running' AND t.status IS DISTINCT FROM 'Paused'
  ORDER BY t.next_run_at NULLS FIRST, t.id`;

export class Scheduler implements TableRunner {
  private readonly db: Database;
  private readonly runTable: SchedulerOptions['run'];
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log?: Logger;
  private readonly pollMs: number;
  private readonly maxConcurrent: number;
  private readonly onError?: (err: unknown) => void;
  private readonly running = new Map<string, Running>();
  private loopAbort?: AbortController;
  /** Aborted to end the current sleep early: a run finished (capacity freed) or stop(). */
  private wakeup?: AbortController;
  /** A run finished since the last pass began: pass again before sleeping (no lost wake-up). */
  private runFinished = false;
  private loop?: Promise<void>;
  private pass?: Promise<unknown>;

  constructor(opts: SchedulerOptions) {
    this.db = opts.db;
    this.runTable = opts.run;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.log = opts.log;
    this.pollMs = opts.pollMs ?? 15_000;
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? 2);
    this.onError = opts.onError;
  }

  start(): void {
    if (this.loop) return;
    const ac = new AbortController();
    this.loopAbort = ac;
    this.loop = (async () => {
      while (!ac.signal.aborted) {
        let wait = this.pollMs;
        this.runFinished = false;
        try {
          this.pass = this.runPass();
          wait = Math.min(wait, (await this.pass) as number);
        } catch (err) {
          this.report(err, 'scheduler pass failed');
        } finally {
          this.pass = undefined;
        }
        if (ac.signal.aborted) break;
        if (this.runFinished) continue;
        const wakeup = new AbortController();
        this.wakeup = wakeup;
        const onStop = () => wakeup.abort();
        ac.signal.addEventListener('abort', onStop, { once: true });
        try {
          await this.clock.sleep(Math.max(wait, 0), wakeup.signal);
        } catch {
          // woken early: stop() (the loop condition ends it) or a run finished (pass again)
        } finally {
          ac.signal.removeEventListener('abort', onStop);
        }
      }
    })();
  }

  /** Stops the loop, aborts running syncs (they stop cleanly, leaving the mirror consistent) and awaits them. */
  async stop(): Promise<void> {
    this.loopAbort?.abort();
    await this.loop;
    this.loop = undefined;
    await this.pass?.catch(() => undefined);
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
    const rows = await all<ScheduledTable>(this.db, sql(DUE_TABLES));
    let soonest = Number.POSITIVE_INFINITY;
    for (const t of rows) {
      if (this.running.has(t.id)) continue;
      let due = t.next_run_at?.getTime() ?? null;
      if (due === null) {
        const next = nextRunAt(t, t.last_synced_at?.getTime() ?? null, now);
        if (next === null) continue;
        due = t.last_synced_at ? next + jitterMs(t, this.random) : next;
        await this.db.query(
          sql('UPDATE airmirror.tables SET next_run_at = $2 WHERE id = $1 AND next_run_at IS NULL', [
            t.id,
            new Date(due),
          ]),
        );
      }
      if (due > now) {
        soonest = Math.min(soonest, due - now);
        continue;
      }
      // Due but no capacity: a finishing run wakes the loop for another pass.
      if (this.running.size >= this.maxConcurrent) continue;
      this.launch(t, t.resync_required);
    }
    return soonest;
  }

  /** Runs a table now (reload / resync). 409 when it is already running. */
  async trigger(schemaId: string, opts: { full: boolean }): Promise<void> {
    if (this.running.has(schemaId)) {
      throw conflict('This table is already syncing; cancel it or wait', 'SCHEMA_RUNNING');
    }
    const t = await one<ScheduledTable>(this.db, getTable(schemaId));
    if (!t) throw notFound(`Schema ${schemaId} not found`);
    if (t.status === 'Running' || !this.launch(t, opts.full || t.resync_required)) {
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
      this.runFinished = true;
      this.wakeup?.abort();
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
    const cur = await one<{ status: string | null; latest_error: string | null }>(
      this.db,
      sql('SELECT status, latest_error FROM airmirror.tables WHERE id = $1', [t.id]),
    );
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
            : cur.latest_error;
      const failures = (t.consecutive_failures ?? 0) + 1;
      // Retried sooner than a long period would allow, later and later for a short one;
      // a manual-only table (`never`) is not retried by itself.
      const retry = regular === null ? null : new Date(now + backoffMs(failures));
      await this.db.query(
        sql(
          `UPDATE airmirror.tables SET consecutive_failures = $2, next_run_at = $3,
             latest_error = COALESCE($4, latest_error),
             status = CASE WHEN status IN ('Paused', 'Cancelled') THEN status ELSE 'Failed' END,
             updated_at = now()
           WHERE id = $1`,
          [t.id, failures, retry, message],
        ),
      );
      this.log?.warn({ schemaId: t.id, table: t.table_id, failures, error: message }, 'table sync failed');
      return outcome;
    }
    if (outcome === 'cancelled' || outcome === 'skipped') {
      // A cancelled run the syncer did not get to record is Cancelled; a skipped one (paused, or
      // running in another process) keeps whatever status it has.
      await this.db.query(
        sql(
          `UPDATE airmirror.tables SET next_run_at = $2,
             status = CASE WHEN $3::boolean AND status = 'Running' THEN 'Cancelled' ELSE status END,
             updated_at = now()
           WHERE id = $1`,
          [t.id, scheduled === null ? null : new Date(scheduled), outcome === 'cancelled'],
        ),
      );
      return outcome;
    }
    await this.db.query(
      sql(
        `UPDATE airmirror.tables SET consecutive_failures = 0, next_run_at = $2, latest_error = NULL,
           resync_required = CASE WHEN $3::boolean THEN false ELSE resync_required END, updated_at = now()
         WHERE id = $1`,
        // A run the syncer turned into a schema rebuild did not run the table's own sync type
        // (e.g. append never started its new history): the resync is still owed.
        [
          t.id,
          scheduled === null ? null : new Date(scheduled),
          full && (result as { rebuild?: unknown })?.rebuild !== true,
        ],
      ),
    );
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
