/**
 * Runs each table at its frequency and time of day (issue 5), one run per table at a time, and
 * builds bases never built yet (the syncer's whole-source run).
 *
 * The schedule lives in Postgres (`airmirror.tables.next_run_at`, `consecutive_failures`), so it
 * survives restarts, moves with a base from one process to another, and `status` can show it;
 * NULL means "recompute from the config", which is how scheduling-only changes take effect at the
 * next run. Paused tables (`should_sync=false`) and vanished ones are never picked. The run itself
 * is the syncer's (`run` callback: its state machine moves status/latest_error/last_synced_at);
 * the scheduler adds what it owns: when the next run is, backing off after failures, and clearing
 * `resync_required` after a successful full run (settle.ts).
 *
 * Many processes (docs/ownership.md): with `owner`, only tables of bases this process owns are
 * run; a reload, resync or cancel of a table whose base another process owns is passed to it.
 * How many runs go at once is bounded per process (`maxConcurrent`) and per base (`maxPerSource`).
 *
 * Loop (a BackgroundLoop): a pass picks due tables and launches them, then an abortable sleep
 * until the earliest next run or `pollMs`, whichever is sooner; a run that finishes wakes it for
 * another pass (capacity freed). `stop()` aborts the sleep and the running syncs (as
 * interruptions: their schedule stays due) and awaits them.
 *
 * It satisfies the management API's `TableRunner` (src/api/deps.ts) structurally: neither imports
 * the other.
 */
import { frequencyMs } from '../bookkeeping/frequency.ts';
import {
  loadTable,
  postponeNextRun,
  schedulableTables,
  setNextRunIfUnset,
  unbuiltSources,
  type Table,
} from '../bookkeeping/index.ts';
import type { Database } from '../db/database.ts';
import { AirmirrorError, conflict, notFound } from '../errors.ts';
import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import { Interruption } from '../lifecycle/interruption.ts';
import type { Logger } from '../log.ts';
import { systemClock, type Clock } from './clock.ts';
import { backoffMs, jitterMs, nextRunAt } from './schedule.ts';
import { settleRun, type RunOutcome } from './settle.ts';

export type ScheduledTable = Table;
export type { RunOutcome } from './settle.ts';

export interface RunTableOptions {
  signal: AbortSignal;
  /** A full re-import (resync) rather than the table's normal run. */
  full: boolean;
}

/** Which bases this process runs (sync/ownership.ts); the rest is passed to their owners. */
export interface SchedulerOwnership {
  owns(sourceId: string): boolean;
  /** Another process owns the table's base: have it run the table now. */
  requestRun(t: ScheduledTable, full: boolean): Promise<void>;
  /** Another process owns the table's base: have it stop the run; resolves with whether one ran. */
  requestCancel(t: ScheduledTable): Promise<boolean>;
}

export interface SchedulerOptions {
  db: Database;
  /** Runs one table (the syncer's `syncTable`). Rejects or leaves status `Failed` on failure. */
  run(table: ScheduledTable, opts: RunTableOptions): Promise<unknown>;
  /** Builds a base whose mirror was never built (the syncer's `syncSource`). Without it, none is built. */
  build?(sourceId: string, opts: { signal: AbortSignal }): Promise<unknown>;
  /** Without it, every base is this process's. */
  owner?: SchedulerOwnership;
  clock?: Clock;
  /** [0, 1) for jitter; tests pass `() => 0`. */
  random?: () => number;
  log?: Logger;
  /** Longest sleep between passes, so config changes are noticed. Default 15 s. */
  pollMs?: number;
  /** Runs at once in this process (AIRMIRROR_SYNC_CONCURRENCY). Default 2. */
  maxConcurrent?: number;
  /** Runs at once per base (AIRMIRROR_SYNC_CONCURRENCY_PER_BASE). Default: maxConcurrent. */
  maxPerSource?: number;
  /** Called with any error a pass or run reports (after logging). */
  onError?: (err: unknown) => void;
  /**
   * The monthly call quota's say over scheduled runs (src/quota `schedulerPace`): with `spacing`
   * above 1 a table runs that many times its interval after its last run (the safety-net sweeps
   * of webhook tables and the polls of the others become rarer while calls run short), and its
   * next_run_at shows it; with `pausedUntil` it waits until then. Runs asked for (reload,
   * resync) are not held.
   */
  pace?: (t: ScheduledTable) => Promise<{ spacing: number; pausedUntil: number | null }>;
}

interface Running {
  sourceId: string;
  /** A base build occupies the whole base. */
  build: boolean;
  controller: AbortController;
  done: Promise<RunOutcome>;
}

const STOPPED = 'interrupted: the process stopped during the run';

export class Scheduler {
  private readonly db: Database;
  private readonly opts: SchedulerOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly pollMs: number;
  private readonly maxConcurrent: number;
  private readonly maxPerSource: number;
  private readonly running = new Map<string, Running>();
  private readonly perSource = new Map<string, number>();
  private readonly buildRetry = new Map<string, { failures: number; at: number }>();
  /** When each run or build (by its `running` key) last ended, as a count of ends so far. */
  private readonly ended = new Map<string, number>();
  private ends = 0;
  private readonly loop: BackgroundLoop;
  private stopping = false;

  constructor(opts: SchedulerOptions) {
    this.opts = opts;
    this.db = opts.db;
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.pollMs = opts.pollMs ?? 15_000;
    this.maxConcurrent = Math.max(1, opts.maxConcurrent ?? 2);
    this.maxPerSource = Math.max(1, opts.maxPerSource ?? this.maxConcurrent);
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
    this.stopping = false;
    this.loop.start();
  }

  /** A pass now (a base was taken over, a run was asked for elsewhere). */
  nudge(): void {
    this.loop.nudge();
  }

  /**
   * Stops the loop, interrupts running syncs (they stop cleanly, leaving the mirror consistent,
   * and stay due for whoever owns the base next) and awaits them.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop.stop();
    for (const r of this.running.values()) r.controller.abort(new Interruption(STOPPED));
    await this.idle();
  }

  /** Resolves when no run is in flight. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  isRunning(schemaId: string): boolean {
    return this.running.has(schemaId);
  }

  /**
   * One scheduling pass: build the owned bases never built, launch every due table (within the
   * concurrency limits) and persist the computed next run of tables that had none. Resolves with
   * the ms until the next due table.
   */
  async runPass(): Promise<number> {
    const now = this.clock.now();
    let soonest = Number.POSITIVE_INFINITY;
    if (this.opts.build) soonest = await this.launchBuilds(now);
    const seen = this.ends;
    const rows = await schedulableTables(this.db);
    // A row read before its table's run (or its base's build) ended says what was due before
    // that run: launched from it, the table would run twice. The pass woken by the end reads it anew.
    const stale = (t: ScheduledTable) =>
      (this.ended.get(t.id) ?? 0) > seen || (this.ended.get(`build:${t.sourceId}`) ?? 0) > seen;
    // Written side by side, not one round trip per row before the next row's launch: after 50
    // new bases a pass otherwise took a second to launch its last table (bench/fan-in.ts).
    const firstSchedules: Promise<void>[] = [];
    for (const t of rows) {
      if (this.running.has(t.id) || !this.mine(t.sourceId) || stale(t)) continue;
      // A base being built syncs this table itself: a schedule computed now ("never synced: due
      // now") would outlive the build and list the table a second time the moment it ends.
      if (this.running.has(`build:${t.sourceId}`)) continue;
      let due = t.nextRunAt?.getTime() ?? null;
      if (due === null) {
        const next = nextRunAt(t, t.lastSyncedAt?.getTime() ?? null, now);
        if (next === null) continue;
        due = t.lastSyncedAt ? next + jitterMs(t, this.random) : next;
        const written = setNextRunIfUnset(this.db, t.id, new Date(due));
        written.catch(() => undefined); // awaited below; a pass failing before must not leave it unhandled
        firstSchedules.push(written);
      }
      due = await this.paced(t, due, now);
      if (due > now) {
        soonest = Math.min(soonest, due - now);
        continue;
      }
      // Due but no capacity: a finishing run wakes the loop for another pass.
      if (!this.hasRoom(t.sourceId) || stale(t)) continue;
      this.launch(t, t.resyncRequired);
    }
    await Promise.all(firstSchedules);
    for (const [key, at] of this.ended) if (at <= seen) this.ended.delete(key);
    return soonest;
  }

  /** When a table runs under the quota's pace: held while paused, later while spaced out. */
  private async paced(t: ScheduledTable, due: number, now: number): Promise<number> {
    if (!this.opts.pace || due > now) return due;
    const pace = await this.opts.pace(t);
    if (pace.pausedUntil !== null && pace.pausedUntil > now) return pace.pausedUntil;
    const interval = frequencyMs(t.syncFrequency);
    if (pace.spacing <= 1 || !interval || !t.lastSyncedAt) return due;
    const spaced = t.lastSyncedAt.getTime() + Math.round(interval * pace.spacing);
    if (spaced <= due) return due;
    await postponeNextRun(this.db, t.id, new Date(spaced));
    this.opts.log?.info(
      { schemaId: t.id, table: t.tableId, spacing: pace.spacing, nextRunAt: new Date(spaced).toISOString() },
      'scheduled run spaced out: the monthly call quota runs short',
    );
    return spaced;
  }

  /** Runs a table now (reload / resync). 409 when it is already running. */
  async trigger(schemaId: string, opts: { full: boolean }): Promise<void> {
    const busy = () => conflict('This table is already syncing; cancel it or wait', 'SCHEMA_RUNNING');
    if (this.running.has(schemaId)) throw busy();
    const t = await loadTable(this.db, schemaId);
    if (!t) throw notFound(`Schema ${schemaId} not found`);
    if (t.status === 'Running') throw busy();
    if (!this.mine(t.sourceId)) return this.opts.owner!.requestRun(t, opts.full || t.resyncRequired);
    if (!this.launch(t, opts.full || t.resyncRequired)) throw busy();
  }

  /** Stops the table's run, here or (with `owner`) in the process that owns its base. */
  async cancel(schemaId: string): Promise<boolean> {
    if (await this.cancelHere(schemaId)) return true;
    const owner = this.opts.owner;
    if (!owner) return false;
    const t = await loadTable(this.db, schemaId);
    if (!t || t.status !== 'Running' || owner.owns(t.sourceId)) return false;
    return owner.requestCancel(t);
  }

  /** Stops the table's run if it runs in this process. */
  async cancelHere(schemaId: string): Promise<boolean> {
    const r = this.running.get(schemaId);
    if (!r) return false;
    r.controller.abort(new AirmirrorError('CANCELLED', 499, 'sync cancelled'));
    await r.done;
    return true;
  }

  private mine(sourceId: string): boolean {
    return !this.opts.owner || this.opts.owner.owns(sourceId);
  }

  private hasRoom(sourceId: string): boolean {
    return this.running.size < this.maxConcurrent && (this.perSource.get(sourceId) ?? 0) < this.maxPerSource;
  }

  /** Owned bases never built: one whole-source run each (retried with backoff when it fails). */
  private async launchBuilds(now: number): Promise<number> {
    let soonest = Number.POSITIVE_INFINITY;
    for (const sourceId of await unbuiltSources(this.db)) {
      const key = `build:${sourceId}`;
      if (this.running.has(key) || !this.mine(sourceId)) continue;
      const retry = this.buildRetry.get(sourceId);
      if (retry && retry.at > now) {
        soonest = Math.min(soonest, retry.at - now);
        continue;
      }
      if (this.running.size >= this.maxConcurrent || (this.perSource.get(sourceId) ?? 0) > 0) continue;
      this.track(key, sourceId, true, (signal) => this.build(sourceId, signal));
    }
    return soonest;
  }

  private async build(sourceId: string, signal: AbortSignal): Promise<RunOutcome> {
    let failed = false;
    let skipped = false;
    try {
      const r = (await this.opts.build!(sourceId, { signal })) as
        { error?: string; skipped?: string } | undefined;
      failed = Boolean(r?.error);
      skipped = Boolean(r?.skipped);
    } catch (err) {
      failed = true;
      this.report(err, 'building a base failed');
    }
    if (signal.aborted) return 'cancelled';
    if (skipped) return 'skipped';
    if (!failed) {
      this.buildRetry.delete(sourceId);
      return 'succeeded';
    }
    const failures = (this.buildRetry.get(sourceId)?.failures ?? 0) + 1;
    this.buildRetry.set(sourceId, { failures, at: this.clock.now() + backoffMs(failures) });
    return 'failed';
  }

  /** Starts a run unless one of this table is in flight (checked here, after any await). */
  private launch(t: ScheduledTable, full: boolean): boolean {
    if (this.running.has(t.id) || this.running.has(`build:${t.sourceId}`)) return false;
    const startedAt = this.clock.now();
    this.track(t.id, t.sourceId, false, (signal) => this.execute(t, full, signal, startedAt));
    return true;
  }

  private track(
    key: string,
    sourceId: string,
    build: boolean,
    work: (signal: AbortSignal) => Promise<RunOutcome>,
  ): void {
    const controller = new AbortController();
    const weight = build ? this.maxPerSource : 1;
    this.perSource.set(sourceId, (this.perSource.get(sourceId) ?? 0) + weight);
    const done = work(controller.signal).finally(() => {
      this.running.delete(key);
      this.ended.set(key, ++this.ends);
      const left = (this.perSource.get(sourceId) ?? weight) - weight;
      if (left > 0) this.perSource.set(sourceId, left);
      else this.perSource.delete(sourceId);
      // Capacity freed: pass again now (or right after the pass in flight: no lost wake-up).
      this.loop.nudge();
    });
    this.running.set(key, { sourceId, build, controller, done });
  }

  private async execute(t: ScheduledTable, full: boolean, signal: AbortSignal, startedAt: number) {
    let thrown: unknown;
    let result: unknown;
    try {
      result = await this.opts.run(t, { signal, full });
    } catch (err) {
      thrown = err;
    }
    // Stopping, or the base is another process's now: its schedule is not ours to write (an
    // interrupted run stays due, for whoever owns the base next).
    if (this.stopping || !this.mine(t.sourceId) || (result as { notOwner?: unknown })?.notOwner === true) {
      return 'interrupted';
    }
    try {
      return await settleRun({
        db: this.db,
        t,
        full,
        signal,
        startedAt,
        now: this.clock.now(),
        thrown,
        result,
        random: this.random,
        log: this.opts.log,
      });
    } catch (err) {
      this.report(err, 'could not record the outcome of a run');
      return 'failed';
    }
  }

  private report(err: unknown, msg: string): void {
    this.opts.log?.error({ err }, msg);
    this.opts.onError?.(err);
  }
}
