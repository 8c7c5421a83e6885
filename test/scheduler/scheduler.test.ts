import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { isInterruption } from '../../src/lifecycle/interruption.ts';
import { Scheduler, type RunTableOptions, type ScheduledTable } from '../../src/scheduler/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFakeClock, type FakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';

const { db } = await createTestDatabase();
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

interface Call {
  id: string;
  at: number;
  full: boolean;
  signal: AbortSignal;
}

/**
 * Stands in for the syncer's syncTable: records each call, and either finishes at once, fails, or
 * blocks until released/aborted, so tests control exactly when a run ends.
 */
class FakeRuns {
  calls: Call[] = [];
  fail = new Set<string>();
  block = new Set<string>();
  private releases = new Map<string, () => void>();
  constructor(private clock: FakeClock) {}

  run = async (t: ScheduledTable, o: RunTableOptions) => {
    this.calls.push({ id: t.id, at: this.clock.now(), full: o.full, signal: o.signal });
    if (this.block.has(t.id)) {
      await new Promise<void>((resolve, reject) => {
        this.releases.set(t.id, resolve);
        o.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    }
    if (this.fail.has(t.id)) throw new Error(`upstream broke for ${t.id}`);
  };

  release(id: string) {
    this.releases.get(id)?.();
  }
  count(id: string) {
    return this.calls.filter((c) => c.id === id).length;
  }
}

let n = 0;
async function table(cfg: Record<string, unknown> = {}): Promise<string> {
  const id = `t${++n}`;
  await db.query(
    sql(`INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3)`, [
      `s${n}`,
      `app${String(n).padStart(14, '0')}`,
      `s${n}`,
    ]),
  );
  await db.query(
    sql(
      `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table) VALUES ($1, $2, $3, 'T', 't')`,
      [id, `s${n}`, `tbl${String(n).padStart(14, '0')}`],
    ),
  );
  for (const [k, v] of Object.entries(cfg)) {
    // Test-only: column names come from this file, never from input.
    await db.query(sql(`UPDATE airmirror.tables SET ${k} = $2 WHERE id = $1`, [id, v]));
  }
  return id;
}

async function row(id: string) {
  return (await db.query(sql('SELECT * FROM airmirror.tables WHERE id = $1', [id]))).rows[0];
}

/** A scheduler over this file's database, fake runs and clock, without jitter; `extra` on top. */
function schedulerWith(extra: Partial<ConstructorParameters<typeof Scheduler>[0]> = {}): Scheduler {
  return new Scheduler({ db, run: runs.run, clock, random: () => 0, ...extra });
}

let clock: FakeClock;
let runs: FakeRuns;
let scheduler: Scheduler;
let errors: unknown[];

beforeEach(async () => {
  await db.query(sql('DELETE FROM airmirror.sources'));
  clock = createFakeClock(T0);
  runs = new FakeRuns(clock);
  errors = [];
  scheduler = schedulerWith({
    maxConcurrent: 10,
    onError: (e) => errors.push(e),
  });
});

afterEach(async () => {
  await scheduler.stop();
});

async function pass() {
  await scheduler.runPass();
  await scheduler.idle();
}

describe('scheduling on a fake clock', () => {
  it('runs a new table at once, then every period, never early', async () => {
    const id = await table({ sync_frequency: '1hour' });
    await pass();
    expect(runs.count(id)).toBe(1);
    expect((await row(id)).next_run_at.getTime()).toBe(T0 + HOUR);
    clock.jump(59 * MIN);
    await pass();
    expect(runs.count(id)).toBe(1);
    clock.jump(MIN);
    await pass();
    expect(runs.count(id)).toBe(2);
    expect(runs.calls[1].at).toBe(T0 + HOUR);
    expect((await row(id)).next_run_at.getTime()).toBe(T0 + 2 * HOUR);
  });

  it('a synced table with no next run is scheduled from its last sync, with jitter', async () => {
    const s = new Scheduler({ db, run: runs.run, clock, random: () => 0.5 });
    const id = await table({ sync_frequency: '1hour', last_synced_at: new Date(T0 - 10 * MIN) });
    await s.runPass();
    expect(runs.count(id)).toBe(0);
    // 50 min to go, plus half of the 5-minute jitter cap.
    expect((await row(id)).next_run_at.getTime()).toBe(T0 + 50 * MIN + 150_000);
    await s.stop();
  });

  it('keeps a daily table on its time of day', async () => {
    const id = await table({ sync_frequency: '24hour', sync_time_of_day: '02:00' });
    await pass();
    expect(runs.count(id)).toBe(1); // never synced: now
    const next = (await row(id)).next_run_at.getTime();
    expect(next).toBe(Date.UTC(2026, 0, 11, 2, 0, 0));
    clock.jump(next - clock.now());
    await pass();
    expect(runs.count(id)).toBe(2);
    expect((await row(id)).next_run_at.getTime()).toBe(Date.UTC(2026, 0, 12, 2, 0, 0));
  });

  it('never runs `never`, paused or vanished tables by itself', async () => {
    const never = await table({ sync_frequency: 'never' });
    const paused = await table({ should_sync: false, status: 'Paused' });
    const vanished = await table({ vanished_at: new Date(T0) });
    await pass();
    clock.jump(40 * 24 * HOUR);
    await pass();
    expect(runs.calls).toHaveLength(0);
    // A manual run of a `never` table is fine, and schedules nothing after it.
    await scheduler.trigger(never, { full: false });
    await scheduler.idle();
    expect(runs.count(never)).toBe(1);
    expect((await row(never)).next_run_at).toBeNull();
    void paused;
    void vanished;
  });

  it('pause stops scheduled runs; resume brings them back', async () => {
    const id = await table({ sync_frequency: '5min' });
    await pass();
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = false, status = 'Paused' WHERE id = $1`, [id]),
    );
    clock.jump(HOUR);
    await pass();
    expect(runs.count(id)).toBe(1);
    // Resume as the API does: status back to idle, next run recomputed.
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = true, status = NULL, next_run_at = NULL WHERE id = $1`, [
        id,
      ]),
    );
    await pass();
    expect(runs.count(id)).toBe(2);
  });

  it('failures back off and set latest_error; success clears it', async () => {
    const id = await table({ sync_frequency: '24hour' });
    runs.fail.add(id);
    await pass();
    let r = await row(id);
    expect(r).toMatchObject({ status: 'Failed', consecutive_failures: 1 });
    expect(r.latest_error).toContain('upstream broke');
    expect(r.next_run_at.getTime()).toBe(T0 + 30_000);
    clock.jump(30_000);
    await pass();
    r = await row(id);
    expect(r.consecutive_failures).toBe(2);
    expect(r.next_run_at.getTime()).toBe(clock.now() + 60_000);
    clock.jump(59_000);
    await pass();
    expect(runs.count(id)).toBe(2);
    clock.jump(1_000);
    runs.fail.delete(id);
    await pass();
    r = await row(id);
    expect(runs.count(id)).toBe(3);
    expect(r.latest_error).toBeNull();
    expect(r.consecutive_failures).toBe(0);
    expect(r.next_run_at.getTime()).toBe(clock.now() + 24 * HOUR);
  });

  it('a run whose syncer recorded Failed (without throwing) counts as a failure', async () => {
    const id = await table();
    const s = new Scheduler({
      db,
      clock,
      random: () => 0,
      run: async (t) => {
        await db.query(
          sql(`UPDATE airmirror.tables SET status = 'Failed', latest_error = 'boom' WHERE id = $1`, [t.id]),
        );
        return { status: 'Failed' };
      },
    });
    await s.runPass();
    await s.idle();
    expect(await row(id)).toMatchObject({ consecutive_failures: 1, latest_error: 'boom' });
    await s.stop();
  });

  it('runs one run per table at a time', async () => {
    const id = await table({ sync_frequency: '1min' });
    runs.block.add(id);
    await scheduler.runPass();
    clock.jump(10 * MIN);
    await scheduler.runPass();
    expect(runs.count(id)).toBe(1);
    expect(scheduler.isRunning(id)).toBe(true);
    await expect(scheduler.trigger(id, { full: false })).rejects.toMatchObject({ status: 409 });
    runs.release(id);
    await scheduler.idle();
    expect(scheduler.isRunning(id)).toBe(false);
  });

  it('two reloads at the same moment start one run', async () => {
    const id = await table({ sync_frequency: 'never' });
    runs.block.add(id);
    const results = await Promise.allSettled([
      scheduler.trigger(id, { full: false }),
      scheduler.trigger(id, { full: false }),
      scheduler.runPass(),
    ]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(runs.count(id)).toBe(1);
    runs.release(id);
    await scheduler.idle();
  });

  it('limits concurrent runs and starts the next when one finishes', async () => {
    const s = schedulerWith({ maxConcurrent: 1 });
    const a = await table();
    const b = await table();
    runs.block.add(a).add(b);
    await s.runPass();
    expect(runs.calls.map((c) => c.id)).toEqual([a]);
    runs.release(a);
    await waitUntil(() => !s.isRunning(a), { what: 'a to finish' });
    await s.runPass();
    expect(runs.calls.map((c) => c.id)).toEqual([a, b]);
    runs.release(b);
    await s.stop();
  });

  it('passes full for a table that needs a resync, and clears the flag after success', async () => {
    const id = await table({ resync_required: true });
    await pass();
    expect(runs.calls[0].full).toBe(true);
    expect((await row(id)).resync_required).toBe(false);
    await scheduler.trigger(id, { full: false });
    await scheduler.idle();
    expect(runs.calls[1].full).toBe(false);
  });

  it('keeps a resync owed when the syncer turned the run into a schema rebuild', async () => {
    const id = await table({ resync_required: true });
    const s = new Scheduler({
      db,
      clock,
      random: () => 0,
      run: async () => ({ status: 'Completed', rebuild: true }),
    });
    await s.runPass();
    await s.idle();
    expect((await row(id)).resync_required).toBe(true);
    await s.stop();
  });

  it('a skipped run (paused or running elsewhere) leaves errors and failures alone', async () => {
    const id = await table({ sync_frequency: '1hour', latest_error: 'earlier', consecutive_failures: 2 });
    const s = new Scheduler({ db, clock, random: () => 0, run: async () => ({ status: 'Skipped' }) });
    await s.runPass();
    await s.idle();
    const r = await row(id);
    expect(r).toMatchObject({ latest_error: 'earlier', consecutive_failures: 2 });
    expect(r.next_run_at.getTime()).toBe(T0 + HOUR);
    await s.stop();
  });

  it('cancel aborts the run and leaves it Cancelled, rescheduled normally', async () => {
    const id = await table({ sync_frequency: '1hour' });
    runs.block.add(id);
    await scheduler.trigger(id, { full: false });
    // What the syncer does when its run starts.
    await db.query(sql(`UPDATE airmirror.tables SET status = 'Running' WHERE id = $1`, [id]));
    expect(await scheduler.cancel(id)).toBe(true);
    expect(runs.calls[0].signal.aborted).toBe(true);
    const r = await row(id);
    expect(r.status).toBe('Cancelled');
    expect(r.consecutive_failures).toBe(0);
    expect(r.next_run_at.getTime()).toBe(T0 + HOUR);
    expect(await scheduler.cancel(id)).toBe(false);
  });
});

describe('the loop', () => {
  it('sleeps until the next due run and stop() awaits and aborts the running sync', async () => {
    const a = await table({ sync_frequency: '1hour' });
    scheduler.start();
    await waitUntil(() => runs.count(a) === 1, { what: 'first run' });
    // A run counts when it starts; its next run is computed from the clock when it settles, so
    // time moves only after that (and after the pass its end nudges has gone back to sleep).
    await waitUntil(() => !scheduler.isRunning(a), { what: 'first run settled' });
    await waitUntil(() => clock.pendingTimers() > 0, { what: 'the loop to sleep' });
    clock.jump(HOUR);
    await waitUntil(() => runs.count(a) === 2, { what: 'second run' });
    await waitUntil(() => !scheduler.isRunning(a), { what: 'second run settled' });
    runs.block.add(a);
    await waitUntil(() => clock.pendingTimers() > 0, { what: 'the loop to sleep' });
    clock.jump(HOUR);
    await waitUntil(() => runs.count(a) === 3, { what: 'third run (blocked)' });
    await scheduler.stop();
    expect(runs.calls[2].signal.aborted).toBe(true);
    expect(scheduler.isRunning(a)).toBe(false);
    expect(errors).toEqual([]);
  });

  it('reports a failing pass and keeps going', async () => {
    const broken = new Scheduler({
      db: { ...db, query: () => Promise.reject(new Error('db down')) } as never,
      run: runs.run,
      clock,
      pollMs: 1000,
      onError: (e) => errors.push(e),
    });
    broken.start();
    await waitUntil(() => errors.length === 1, { what: 'first error' });
    await waitUntil(() => clock.pendingTimers() > 0, { what: 'the loop to sleep' });
    clock.jump(1000);
    await waitUntil(() => errors.length === 2, { what: 'second error' });
    await broken.stop();
    expect(String(errors[0])).toContain('db down');
  });
});

describe('concurrency and ownership', () => {
  /** A source with `n` tables (ids `<source>-t<k>`), its mirror built unless `built: false`. */
  async function source(id: string, n: number, opts: { built?: boolean } = {}): Promise<string[]> {
    await db.query(
      sql(`INSERT INTO airmirror.sources (id, base_id, schema_name, schema_hash) VALUES ($1, $2, $1, $3)`, [
        id,
        `app${id.padStart(14, '0')}`,
        opts.built === false ? null : 'built',
      ]),
    );
    const ids: string[] = [];
    for (let k = 1; k <= n; k++) {
      const tid = `${id}-t${k}`;
      await db.query(
        sql(
          `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table) VALUES ($1, $2, $3, $1, $1)`,
          [tid, id, `tbl${tid.replace(/\W/g, '').padStart(14, '0')}`],
        ),
      );
      ids.push(tid);
    }
    return ids;
  }

  it('runs at most maxConcurrent tables in the process and maxPerSource per base', async () => {
    const a = await source('sa', 3);
    const b = await source('sb', 3);
    for (const id of [...a, ...b]) runs.block.add(id);
    const s = schedulerWith({ maxConcurrent: 3, maxPerSource: 2 });
    await s.runPass();
    const started = runs.calls.map((c) => c.id);
    expect(started).toHaveLength(3);
    expect(started.filter((id) => id.startsWith('sa')).length).toBeLessThanOrEqual(2);
    expect(started.filter((id) => id.startsWith('sb')).length).toBeLessThanOrEqual(2);
    // One finishes: the next goes, still within both limits.
    runs.release(started[0]);
    await waitUntil(() => !s.isRunning(started[0]), { what: 'the first to finish' });
    await s.runPass();
    expect(runs.calls).toHaveLength(4);
    const now = [...a, ...b].filter((id) => s.isRunning(id));
    expect(now).toHaveLength(3);
    expect(now.filter((id) => id.startsWith('sa')).length).toBeLessThanOrEqual(2);
    expect(now.filter((id) => id.startsWith('sb')).length).toBeLessThanOrEqual(2);
    for (const id of [...a, ...b]) runs.release(id);
    await s.stop();
  });

  it('keeps fifty bases busy at once in one process', async () => {
    const all: string[] = [];
    for (let k = 0; k < 50; k++) all.push(...(await source(`m${k}`, 2)));
    for (const id of all) runs.block.add(id);
    const s = schedulerWith({
      maxConcurrent: 100,
      maxPerSource: 2,
    });
    await s.runPass();
    expect(new Set(runs.calls.map((c) => c.id.split('-')[0])).size).toBe(50);
    expect(runs.calls).toHaveLength(100);
    for (const id of all) runs.release(id);
    await s.stop();
  });

  it('runs only the bases it owns, passes reloads and cancels of the others to their owner', async () => {
    const [mine] = await source('own', 1);
    const [theirs] = await source('their', 1);
    const asked: string[] = [];
    const s = schedulerWith({
      owner: {
        owns: (sourceId) => sourceId === 'own',
        requestRun: async (t, full) => void asked.push(`run ${t.id} ${full}`),
        requestCancel: async (t) => (asked.push(`cancel ${t.id}`), true),
      },
    });
    await s.runPass();
    await s.idle();
    expect(runs.calls.map((c) => c.id)).toEqual([mine]);
    // Another process's base: nothing computed or written for it here.
    expect((await row(theirs)).next_run_at).toBeNull();
    await s.trigger(theirs, { full: true });
    expect(asked).toEqual([`run ${theirs} true`]);
    expect(runs.count(theirs)).toBe(0);
    await db.query(sql(`UPDATE airmirror.tables SET status = 'Running' WHERE id = $1`, [theirs]));
    expect(await s.cancel(theirs)).toBe(true);
    expect(asked).toEqual([`run ${theirs} true`, `cancel ${theirs}`]);
    await s.stop();
  });

  it('builds an owned base never built, once, and backs off when the build fails', async () => {
    await source('fresh', 0, { built: false });
    await source('broken', 0, { built: false });
    const builds: string[] = [];
    const s = schedulerWith({
      build: async (sourceId) => {
        builds.push(sourceId);
        if (sourceId === 'broken') return { error: 'bad token' };
        await db.query(sql(`UPDATE airmirror.sources SET schema_hash = 'h' WHERE id = $1`, [sourceId]));
        return { rebuilt: true };
      },
    });
    await s.runPass();
    await s.idle();
    expect(builds.sort()).toEqual(['broken', 'fresh']);
    await s.runPass();
    await s.idle();
    expect(builds).toHaveLength(2);
    clock.jump(31_000);
    await s.runPass();
    await s.idle();
    expect(builds.filter((b) => b === 'broken')).toHaveLength(2);
    expect(builds.filter((b) => b === 'fresh')).toHaveLength(1);
    await s.stop();
  });

  it('does not schedule the tables of a base while it is being built (the build syncs them)', async () => {
    const [id] = await source('building', 1, { built: false });
    let finish!: () => void;
    const s = schedulerWith({
      build: async (sourceId) => {
        await new Promise<void>((r) => (finish = r));
        // What the syncer's build leaves: the base built, its tables synced.
        await db.query(sql(`UPDATE airmirror.sources SET schema_hash = 'h' WHERE id = $1`, [sourceId]));
        await db.query(
          sql(`UPDATE airmirror.tables SET last_synced_at = $2 WHERE id = $1`, [id, new Date(T0)]),
        );
        return { rebuilt: true };
      },
    });
    await s.runPass();
    await waitUntil(() => finish !== undefined);
    // A pass while the build runs: the never-synced table is not given a due-now schedule.
    await s.runPass();
    expect((await row(id)).next_run_at).toBeNull();
    finish();
    await s.idle();
    await s.runPass();
    await s.idle();
    expect(runs.count(id)).toBe(0);
    expect((await row(id)).next_run_at.getTime()).toBe(T0 + HOUR);
    await s.stop();
  });

  it('does not run a table again from a row read before its run ended (the pass reads it anew)', async () => {
    const [hook, table] = await source('stale', 2);
    await db.query(
      sql(`UPDATE airmirror.tables SET next_run_at = $2 WHERE id = $1`, [hook, new Date(T0 - 2 * MIN)]),
    );
    await db.query(
      sql(`UPDATE airmirror.tables SET next_run_at = $2 WHERE id = $1`, [table, new Date(T0 - MIN)]),
    );
    runs.block.add(table);
    let endRunMidPass = false;
    const s = schedulerWith({
      // The quota's pace is asked for each due table during a pass: for the first table in the
      // pass's order, it holds that table and (the second time) lets the other table's run end
      // while the pass still holds that table's row, read before the end.
      pace: async (t) => {
        if (t.id !== hook) return { spacing: 1, pausedUntil: null };
        if (endRunMidPass) {
          runs.block.delete(table);
          runs.release(table);
          await waitUntil(async () => (await row(table)).next_run_at.getTime() > T0);
          await waitUntil(() => !s.isRunning(table));
        }
        return { spacing: 1, pausedUntil: T0 + HOUR };
      },
    });
    await s.runPass();
    expect(runs.count(table)).toBe(1);
    endRunMidPass = true;
    await s.runPass();
    await s.idle();
    expect(runs.count(table)).toBe(1);
    // The next pass reads the row as the run left it: due in an hour, not now.
    await s.runPass();
    expect(runs.count(table)).toBe(1);
    await s.stop();
  });

  it('stop interrupts running syncs and leaves their schedule as it was (due for the next owner)', async () => {
    const [id] = await source('stop', 1);
    await db.query(
      sql(`UPDATE airmirror.tables SET next_run_at = $2 WHERE id = $1`, [id, new Date(T0 - MIN)]),
    );
    runs.block.add(id);
    const s = schedulerWith();
    await s.runPass();
    expect(runs.count(id)).toBe(1);
    await s.stop();
    const signal = runs.calls[0].signal;
    expect(signal.aborted).toBe(true);
    expect(isInterruption(signal.reason)).toBe(true);
    expect((await row(id)).next_run_at.getTime()).toBe(T0 - MIN);
  });
});
