import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createRetentionLoop } from '../../src/bookkeeping/retention-loop.ts';
import { pruneBookkeeping, type RetentionSettings } from '../../src/bookkeeping/retention.ts';
import { createDeliverer } from '../../src/events/deliverer.ts';
import { subscriptionRoutes } from '../../src/events/routes.ts';
import { createLogger } from '../../src/log.ts';
import { applyDeletes, applyRecords, fenceHorizon, takeFence } from '../../src/mirror/index.ts';
import { createTestDatabase } from '../support/db.ts';
import { createFakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';
import { testSecrets } from '../events/support.ts';
import { harness, SOURCE_ID } from '../sync/fixture.ts';

/**
 * Bounded bookkeeping (issue 13): a simulated month of syncing and writes — every day a sync
 * of a table, proxy writes that create and delete records (fence stamps and tombstones, change
 * events), event delivery to one receiver that takes everything and one that always fails (its
 * events become dead letters after 24 h) — with the retention loop on the same fake clock. The
 * bookkeeping tables grow for a week (the retention), then stay flat.
 *
 * Postgres stamps rows with its own now(): to run a month in seconds, the rows each step wrote
 * are stamped with the fake clock's time, which is what now() would have said.
 */
const log = createLogger({ level: 'silent' });
const DAY = 24 * 3_600_000;
const STEP = DAY;
const DAYS = 30;
const settings: RetentionSettings = {
  fenceMs: 7 * DAY,
  runsMs: 7 * DAY,
  outboxMs: 3_600_000,
  deadLettersMs: 7 * DAY,
};

async function counts(db: Database) {
  const r = await db.query<{ fences: number; runs: number; outbox: number; dead: number }>(
    sql(`SELECT (SELECT count(*) FROM airmirror.row_fence)::int AS fences,
                (SELECT count(*) FROM airmirror.sync_runs)::int AS runs,
                (SELECT count(*) FROM airmirror.outbox)::int AS outbox,
                (SELECT count(*) FROM airmirror.dead_letters)::int AS dead`),
  );
  return r.rows[0];
}

describe('bookkeeping retention', () => {
  it('keeps the bookkeeping tables flat over a simulated month of syncing and writes', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 20 } });
    await h.syncer.syncAll();
    const customers = await h.table('Customers');
    const customersId = h.tableId('Customers');

    const clock = createFakeClock(Date.now());
    // Two receivers, answered in process: one takes every event, the other is down for good.
    const received = { ok: 0, failing: 0 };
    const receivers: typeof fetch = async (input) => {
      const down = String(input).includes('failing');
      received[down ? 'failing' : 'ok']++;
      return new Response(null, { status: down ? 500 : 200 });
    };
    const api = subscriptionRoutes({ db, secrets: testSecrets, fetch: receivers });
    for (const url of ['https://ok.example/hook', 'https://failing.example/hook']) {
      const res = await api.request('/subscriptions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url, secret: 'whsec-test-0123456789abcdef' }),
      });
      expect(res.status).toBe(201);
    }
    const deliverer = createDeliverer({
      db,
      fetch: receivers,
      secrets: testSecrets,
      log,
      listen: false,
      now: () => new Date(clock.now()),
      retryBaseMs: 3_600_000,
      random: () => 0.5,
    });
    let passes = 0;
    const loop = createRetentionLoop({
      db,
      log,
      settings,
      now: clock.now,
      sleep: (ms, signal) => clock.sleep(ms, signal).catch(() => undefined),
      intervalMs: STEP,
      onPass: () => passes++,
    });
    loop.start();
    await waitUntil(() => passes === 1, { what: 'the first pruning pass' });

    const mark = { fence: 0, run: 0, outbox: 0, dead: 0 };
    const lastIds = async () => {
      const r = await db.query<{ run: string; outbox: string }>(
        sql(`SELECT coalesce((SELECT max(id) FROM airmirror.sync_runs), 0)::text AS run,
                    coalesce((SELECT max(id) FROM airmirror.outbox), 0)::text AS outbox`),
      );
      return {
        fence: Number(await takeFence(db)),
        run: Number(r.rows[0].run),
        outbox: Number(r.rows[0].outbox),
      };
    };
    const daily: Awaited<ReturnType<typeof counts>>[] = [];
    let written = 0;
    for (let step = 1; step <= DAYS; step++) {
      Object.assign(mark, await lastIds());
      // A sync of a table, and proxy writes: five records created, then deleted (tombstones).
      const res = await h.syncer.syncTable(SOURCE_ID, customersId);
      expect(res.status).toBe('Completed');
      const ids = Array.from({ length: 5 }, (_, i) => `recSim${String(step).padStart(4, '0')}${i}`);
      const now = new Date(clock.now()).toISOString();
      await applyRecords(
        db,
        customers,
        ids.map((id) => ({ id, createdTime: now, fields: {} })),
        { origin: 'proxy', sourceId: SOURCE_ID, stampFence: true },
      );
      await applyDeletes(db, customers, ids, { origin: 'proxy', sourceId: SOURCE_ID, stampFence: true });
      written += ids.length;
      // What this step wrote carries this step's time.
      const at = new Date(clock.now());
      await db.query(sql('UPDATE airmirror.row_fence SET at = $2 WHERE fence > $1', [mark.fence, at]));
      await db.query(
        sql('UPDATE airmirror.sync_runs SET started_at = $2, finished_at = $2 WHERE id > $1', [mark.run, at]),
      );
      await db.query(sql('UPDATE airmirror.outbox SET created_at = $2 WHERE id > $1', [mark.outbox, at]));
      await deliverer.runOnce();
      // A day passes; the retention loop wakes on the same clock.
      clock.jump(STEP);
      await waitUntil(() => passes === step + 1, { what: `pruning pass ${step + 1}` });
      daily.push(await counts(db));
    }
    await loop.stop();

    // A month of syncing and writes happened: more than a week's worth of every kind of row.
    expect(written).toBe(DAYS * 5);
    expect(received.ok).toBeGreaterThan(DAYS * 10 - 20);
    expect(daily[DAYS - 1].dead).toBeGreaterThan(0);
    // After the first week and a bit, every table stays flat: no day holds more than day 9 did
    // (give or take a step's rows)…
    for (const k of ['fences', 'runs', 'outbox', 'dead'] as const) {
      const settled = daily.slice(9).map((d) => d[k]);
      expect({ k, max: Math.max(...settled) }).toEqual({ k, max: expect.any(Number) });
      expect(Math.max(...settled)).toBeLessThanOrEqual(daily[8][k] + 10);
    }
    // …well below what a month left unpruned would hold…
    expect(daily[DAYS - 1].fences).toBeLessThan(written / 3);
    expect(daily[DAYS - 1].runs).toBeLessThan((DAYS * 2) / 3);
    // A receiver down for longer than the retry window holds nothing back: its events go to dead
    // letters (two events per record, ten a day), kept for the retention's week.
    expect(daily[DAYS - 1].outbox).toBeLessThanOrEqual(20);
    expect(daily[DAYS - 1].dead).toBeLessThanOrEqual(7 * 10 + 10);
    expect(daily[DAYS - 1].dead).toBeGreaterThanOrEqual(6 * 10);
    // …and the last week is kept: each step's five tombstones, each step's run.
    expect(daily[DAYS - 1].fences).toBeGreaterThanOrEqual(5 * 6);
    expect(daily[DAYS - 1].runs).toBeGreaterThanOrEqual(6);
    // Pruned stamps moved the fence horizon.
    expect(Number(await fenceHorizon(db))).toBeGreaterThan(0);
  });

  it('keeps the newest run of each table however old, and only airmirror outbox rows every subscriber passed', async () => {
    const { db } = await createTestDatabase();
    await db.query(
      sql(`INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('s1', 'appAAAAAAAAAAAAAA', 'x')`),
    );
    const old = new Date(Date.now() - 90 * DAY);
    for (let i = 0; i < 3; i++) {
      await db.query(
        sql(
          `INSERT INTO airmirror.sync_runs (source_id, table_id, kind, status, started_at, finished_at)
           VALUES ('s1', 'tbl1', 'full_refresh', 'completed', $1, $1)`,
          [old],
        ),
      );
    }
    await db.query(
      sql(
        `INSERT INTO airmirror.sync_runs (source_id, table_id, kind, status, started_at) VALUES ('s1', 'tbl1', 'full_refresh', 'running', $1)`,
        [old],
      ),
    );
    const pruned = await pruneBookkeeping(db, settings, new Date());
    expect(pruned.runs).toBe(2);
    const left = await db.query<{ status: string }>(
      sql('SELECT status FROM airmirror.sync_runs ORDER BY id'),
    );
    expect(left.rows.map((r) => r.status)).toEqual(['completed', 'running']);
  });
});
