/**
 * Every connection of the process dropped by Postgres in the middle of a run (what a restart does
 * to it; docs/ownership.md, invariant 12): the run stops, the process never exits, takes its base
 * again by itself, and the table is never left Running — it is recorded as interrupted and due,
 * and the next run completes with the mirror exact. A `sync --once` process whose session ended
 * opens exactly one new session, however many bases it enters at once.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BASE_LOCK, MEMBER_LOCK } from '../../src/bookkeeping/ownership.ts';
import { sql } from '../../src/db/sql.ts';
import { createBaseOwnership } from '../../sync/ownership.ts';
import { createTestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import { harness, listingPause, silentLog, SOURCE_ID, tableState } from './fixture.ts';

describe('all connections dropped mid-run', () => {
  it('interrupts the run, takes the base again, and leaves nothing Running', async () => {
    const t = await createTestDatabase();
    const ownership = createBaseOwnership({ db: t.db, log: silentLog, role: 'start', tickMs: 100 });
    let ordersId = '';
    const pause = listingPause((table) => table === ordersId);
    const h = await harness(t.db, {
      emulator: { records: 450 },
      wrapClient: pause.wrap,
      syncer: { ownership },
    });
    ordersId = h.tableId('Orders');
    await ownership.start();
    try {
      await waitUntil(() => ownership.owns(SOURCE_ID), { what: 'the base to be owned' });
      const [built] = await h.syncer.syncAll();
      expect(built.error).toBeUndefined();

      const reached = pause.pauseAfter(2);
      const run = h.syncer.syncTable(SOURCE_ID, ordersId, { full: true });
      await reached;
      expect((await tableState(t.db, ordersId)).status).toBe('Running');
      // Postgres ends every session of this database but the test's own.
      await t.db.query(
        sql(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        ),
      );
      pause.release();
      const result = await run.catch((err: unknown) => ({ status: 'threw', error: String(err) }));
      expect(result.status).not.toBe('Completed');
      await waitUntil(() => ownership.owns(SOURCE_ID), {
        what: 'the base to be owned again',
        timeoutMs: 30_000,
      });
      const after = await waitUntil(
        async () => {
          const s = await tableState(t.db, ordersId).catch(() => undefined);
          return s && s.status !== 'Running' ? s : undefined;
        },
        { what: 'Orders to leave Running' },
      );
      expect(after.status).toBe('Failed');
      expect(after.latest_error).toMatch(/interrupted/);
      const due = await t.db.query<{ due: boolean }>(
        sql('SELECT next_run_at <= now() AS due FROM airmirror.tables WHERE table_id = $1', [ordersId]),
      );
      expect(due.rows[0].due).toBe(true);
      const open = await t.db.query(sql(`SELECT 1 FROM airmirror.sync_runs WHERE status = 'running'`));
      expect(open.rows).toEqual([]);

      const again = await h.syncer.syncTable(SOURCE_ID, ordersId, {});
      expect(again.status).toBe('Completed');
      expect((await h.verify()).drift).toBe(0);
    } finally {
      await h.syncer.stop();
      await ownership.stop();
    }
  });
});

describe('a sync --once process whose session Postgres ended', () => {
  it('opens one session again for several bases entered at once, and holds every base on it', async () => {
    const t = await createTestDatabase();
    const sources = ['s1', 's2', 's3'];
    for (const [i, id] of sources.entries()) {
      await t.db.query(
        sql('INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3)', [
          id,
          `app${String(i).padStart(14, '0')}`,
          `out_${id}`,
        ]),
      );
    }
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    // What the syncer does for sync --once: a `once` manager, bases entered together (syncAll).
    const once = createBaseOwnership({ db: t.db, log, role: 'once' });
    // Who holds which ownership lock, per server session.
    const holders = async () =>
      (
        await t.db.query<{ pid: number; bases: number; alive: number }>(
          sql(
            `SELECT pid, count(*) FILTER (WHERE classid = $1::oid)::int AS bases,
                    count(*) FILTER (WHERE classid = $2::oid)::int AS alive
               FROM pg_locks
              WHERE locktype = 'advisory' AND granted AND classid IN ($1::oid, $2::oid)
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              GROUP BY pid`,
            [BASE_LOCK, MEMBER_LOCK],
          ),
        )
      ).rows;
    const sessionPid = async () =>
      (
        await t.db.query<{ backend_pid: number }>(
          sql('SELECT backend_pid FROM airmirror.processes WHERE id = $1', [once.processId]),
        )
      ).rows[0].backend_pid;
    try {
      for (const round of ['first', 'after the outage']) {
        const leases = await Promise.all(sources.map((s) => once.enter(s)));
        expect(
          leases.map((l) => l !== undefined),
          round,
        ).toEqual([true, true, true]);
        // One ownership session holds the process's alive lock and every base, none left aside.
        expect(await holders(), round).toEqual([{ pid: await sessionPid(), bases: 3, alive: 1 }]);
        for (const l of leases) l!.release();
        await waitUntil(async () => (await holders()).every((h) => h.bases === 0), {
          what: 'every base let go',
        });
        if (round === 'first') {
          await t.db.query(sql('SELECT pg_terminate_backend($1)', [await sessionPid()]));
          await waitUntil(() => lines.some((l) => l.includes('ownership session lost')), {
            what: 'the process to notice',
          });
        }
      }
    } finally {
      await once.stop();
    }
    // Stopped: nothing of it is held any more.
    expect(await holders()).toEqual([]);
  });
});
