/**
 * Ownership of bases across processes (docs/ownership.md), on real Postgres: two Database handles
 * in one file play two processes, each with its own ownership manager and session.
 */
import pino from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processViews } from '../../src/bookkeeping/ownership.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { isInterruption } from '../../src/lifecycle/interruption.ts';
import { prepareSwapSchema } from '../../src/mirror/index.ts';
import { createBaseOwnership, type BaseOwnership, type OwnershipOptions } from '../../sync/ownership.ts';
import { connectClient, createTestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';

const t = await createTestDatabase();
const other: Database = createDatabase(t.url, { max: 5 });
afterAll(() => other.close());
const log = pino({ level: 'silent' });
const SOURCES = ['s1', 's2', 's3', 's4'];

let managers: BaseOwnership[] = [];
function manager(db: Database, opts: Partial<OwnershipOptions> = {}): BaseOwnership {
  const m = createBaseOwnership({ db, log, role: 'start', tickMs: 100, ...opts });
  managers.push(m);
  return m;
}

beforeEach(async () => {
  await t.db.query(sql('DELETE FROM airmirror.sources'));
  await t.db.query(sql('DELETE FROM airmirror.processes'));
  for (const [i, id] of SOURCES.entries()) {
    await t.db.query(
      sql(`INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3)`, [
        id,
        `app${String(i).padStart(14, '0')}`,
        `own_${id}`,
      ]),
    );
  }
});

afterEach(async () => {
  for (const m of managers) await m.stop();
  managers = [];
});

const owned = (m: BaseOwnership) => m.owned().sort();
const until = <T>(what: string, fn: () => T | Promise<T>) => waitUntil(fn, { what, timeoutMs: 20_000 });

async function sessionPid(m: BaseOwnership): Promise<number> {
  const r = await t.db.query<{ backend_pid: number }>(
    sql('SELECT backend_pid FROM airmirror.processes WHERE id = $1', [m.processId]),
  );
  return r.rows[0].backend_pid;
}

describe('sharing the bases', () => {
  it('two processes take two bases each, never the same one', async () => {
    const a = manager(t.db);
    const b = manager(other);
    await a.start();
    await b.start();
    await until('a fair split', () => owned(a).length === 2 && owned(b).length === 2);
    expect([...owned(a), ...owned(b)].sort()).toEqual(SOURCES);
    const views = await processViews(t.db);
    expect(views.map((v) => [v.processId, v.bases.length, v.alive])).toEqual(
      expect.arrayContaining([
        [a.processId, 2, true],
        [b.processId, 2, true],
      ]),
    );
    expect(views.find((v) => v.processId === a.processId)!.bases).toEqual(owned(a));
  });

  it('a process that joins later gets its share handed over, at a quiet moment only', async () => {
    const a = manager(t.db);
    await a.start();
    await until('a to hold everything', () => owned(a).length === 4);
    // Work in flight on every base of a: nothing may be handed over mid-run.
    const leases = await Promise.all(SOURCES.map((s) => a.enter(s)));
    const b = manager(other);
    await b.start();
    await until('b to be seen alive', async () =>
      (await processViews(t.db)).some((v) => v.processId === b.processId && v.alive),
    );
    // Several balancing passes of both (every 100 ms): a wants to hand two over, but not mid-run.
    await new Promise((r) => setTimeout(r, 600));
    expect(owned(a)).toEqual(SOURCES);
    expect(owned(b)).toEqual([]);
    for (const l of leases) l!.release();
    await until('the hand-over', () => owned(a).length === 2 && owned(b).length === 2);
    expect(leases.every((l) => !l!.signal.aborted || isInterruption(l!.signal.reason))).toBe(true);
  });

  it('a clean stop hands every base over at once', async () => {
    const a = manager(t.db);
    const b = manager(other);
    await a.start();
    await b.start();
    await until('a fair split', () => owned(a).length === 2 && owned(b).length === 2);
    const lease = await a.enter(owned(a)[0]);
    lease!.release();
    await a.stop();
    await until('b to hold everything', () => owned(b).length === 4);
    expect(lease!.signal.aborted).toBe(true);
    expect((await processViews(t.db)).map((v) => v.processId)).toEqual([b.processId]);
  });
});

describe('losing the hold', () => {
  it('a process whose session is killed stops that work, another takes its bases, and it comes back', async () => {
    const a = manager(t.db);
    const b = manager(other);
    await a.start();
    await b.start();
    await until('a fair split', () => owned(a).length === 2 && owned(b).length === 2);
    const [mine] = owned(a);
    const lease = (await a.enter(mine))!;
    // Postgres ends the ownership session (a restart, a network cut seen by the server).
    await t.db.query(sql('SELECT pg_terminate_backend($1)', [await sessionPid(a)]));
    await until('a to notice', () => lease.signal.aborted);
    expect(isInterruption(lease.signal.reason)).toBe(true);
    expect(String((lease.signal.reason as Error).message)).toMatch(/interrupted: lost its hold/);
    // Its work cannot write any more once b took the base (the epoch fence), whatever a thinks.
    await until('b to take the base', () => b.owns(mine));
    await expect(lease.db.query(sql('SELECT 1'))).rejects.toMatchObject({ code: 'AM001' });
    await expect(lease.db.tx((q) => q.query(sql('SELECT 1')))).rejects.toMatchObject({ code: 'AM001' });
    lease.release();
    // a reconnects by itself and gets its share back.
    await until('the split again', () => owned(a).length === 2 && owned(b).length === 2);
  });

  it('a process whose heartbeat goes unanswered gives its bases up before the server would', async () => {
    const a = manager(t.db, { idleTimeoutMs: 3_000, marginMs: 1_500 });
    await a.start();
    await until('a to hold everything', () => owned(a).length === 4);
    const lease = (await a.enter('s1'))!;
    // Its heartbeat blocks (the row is locked): to a, Postgres stopped answering.
    const blocker = await connectClient(t.db);
    await blocker.query('BEGIN');
    await blocker.query('SELECT * FROM airmirror.processes WHERE id = $1 FOR UPDATE', [a.processId]);
    // The server never ends that session (it is not idle: its UPDATE waits), so only a's own
    // deadline can make it stop; a process that is cut off does the same.
    await until('a to give up', () => lease.signal.aborted);
    expect(String((lease.signal.reason as Error).message)).toMatch(/no heartbeat answered/);
    expect(owned(a)).toEqual([]);
    await blocker.query('ROLLBACK');
    await blocker.end();
    lease.release();
    await until('a to come back', () => owned(a).length === 4);
  });
});

describe('the fence', () => {
  it('a new owner takes the base only after the old owner’s transaction ended, and fences it from then on', async () => {
    const a = createBaseOwnership({ db: t.db, log, role: 'once' });
    const b = createBaseOwnership({ db: other, log, role: 'once' });
    managers.push(a, b);
    const lease = (await a.enter('s1'))!;
    const order: string[] = [];
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    // A transaction of a's work is open (it holds the base's work lock, shared)…
    const inFlight = lease.db.tx(async (q) => {
      await q.query(sql('SELECT 1'));
      await gate;
      order.push('a committed');
    });
    await new Promise((r) => setTimeout(r, 100));
    // …when a's session dies and b claims the base.
    await t.db.query(sql('SELECT pg_terminate_backend($1)', [await sessionPid(a)]));
    await until('a to notice', () => lease.signal.aborted);
    const claimed = b.claim('s1').then((ok) => {
      order.push('b took it');
      return ok;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(order).toEqual([]);
    finish();
    await inFlight;
    expect(await claimed).toBe(true);
    expect(order).toEqual(['a committed', 'b took it']);
    await expect(lease.db.tx(async () => undefined)).rejects.toMatchObject({ code: 'AM001' });
    lease.release();
  });

  it('the new owner recovers what the old one left: Running tables interrupted, its runs failed, its swap schema dropped', async () => {
    await t.db.query(
      sql(`INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table, status)
           VALUES ('t1', 's2', 'tblAAAAAAAAAAAAAA', 'Orders', 'orders', 'Running')`),
    );
    await t.db.query(
      sql(
        `INSERT INTO airmirror.sync_runs (source_id, table_id, kind) VALUES ('s2', 'tblAAAAAAAAAAAAAA', 'full_refresh')`,
      ),
    );
    // The swap schema of a rebuild the old owner did not finish, as airmirror creates it (marked
    // as its own: a schema of that name someone else made is never dropped).
    await prepareSwapSchema(t.db, 'own_s2');
    const b = createBaseOwnership({ db: other, log, role: 'once' });
    managers.push(b);
    expect(await b.claim('s2')).toBe(true);
    const table = await t.db.query(sql(`SELECT status, latest_error FROM airmirror.tables WHERE id = 't1'`));
    expect(table.rows[0]).toMatchObject({
      status: 'Failed',
      latest_error: expect.stringMatching(/interrupted/),
    });
    const runs = await t.db.query(sql(`SELECT status FROM airmirror.sync_runs WHERE source_id = 's2'`));
    expect(runs.rows).toEqual([{ status: 'failed' }]);
    const swap = await t.db.query(sql(`SELECT 1 FROM pg_namespace WHERE nspname = 'own_s2_swap'`));
    expect(swap.rowCount).toBe(0);
  });

  it('a once process claims only free bases, and lets them go when its work ends', async () => {
    const a = manager(t.db);
    await a.start();
    await until('a to hold everything', () => owned(a).length === 4);
    const once = createBaseOwnership({ db: other, log, role: 'once' });
    managers.push(once);
    expect(await once.enter('s1')).toBeUndefined();
    await a.stop();
    const lease = await once.enter('s1');
    expect(lease).toBeDefined();
    expect(once.owns('s1')).toBe(true);
    lease!.release();
    await until('the base to be let go', () => !once.owns('s1'));
  });
});
