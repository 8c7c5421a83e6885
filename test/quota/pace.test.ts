import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createQuotaService, schedulerPace, serializeReport } from '../../src/quota/index.ts';
import { Scheduler, type ScheduledTable } from '../../src/scheduler/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { createFakeClock } from '../support/fake-clock.ts';

/**
 * Issue 17: when the projection would pass the budget, background work spaces itself out beyond
 * drain windows — the safety-net sweeps of webhook tables (their scheduled full runs) become
 * rarer, by the quota's spacing, and status says so; while background work is paused they wait
 * for the month's reset. On the real scheduler, Postgres and a fake clock.
 */
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 16); // half of June gone
let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
  await t.db.query(
    sql(
      `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('s1', 'appAAAAAAAAAAAAAA', 'shop')`,
    ),
  );
  // A webhook table: pings keep it fresh, a daily sweep is its safety net.
  await t.db.query(
    sql(
      `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table, sync_type, sync_frequency)
       VALUES ('w', 's1', 'tblAAAAAAAAAAAAAA', 'Orders', 'orders', 'webhook', '24hour')`,
    ),
  );
});

let scheduler: Scheduler | undefined;
afterEach(async () => scheduler?.stop());

describe('safety-net sweeps under the quota', () => {
  it('become rarer by the spacing while the projection passes the budget, and wait out a pause', async () => {
    const clock = createFakeClock(T0);
    const counts = new Map<string, number>([['k', 0]]);
    const quota = createQuotaService({
      db: t.db,
      now: clock.now,
      defaultBudget: 100_000,
      appShare: 0.2,
      refreshMs: 0,
      sourceTokenKey: async () => 'k',
      callsByToken: async () => counts,
    });
    const sweeps: number[] = [];
    scheduler = new Scheduler({
      db: t.db,
      clock,
      random: () => 0,
      pace: schedulerPace(quota),
      // The sweep: the syncer would stamp last_synced_at as its run succeeds.
      run: async (table: ScheduledTable) => {
        sweeps.push(clock.now());
        await t.db.query(
          sql('UPDATE airmirror.tables SET last_synced_at = $2 WHERE id = $1', [
            table.id,
            new Date(clock.now()),
          ]),
        );
      },
    });
    const pass = async () => {
      await scheduler!.runPass();
      await scheduler!.idle();
    };
    const nextRun = async () =>
      (
        await t.db.query<{ next_run_at: Date }>(
          sql("SELECT next_run_at FROM airmirror.tables WHERE id = 'w'"),
        )
      ).rows[0].next_run_at.getTime();

    await pass();
    expect(sweeps).toEqual([T0]);
    expect(await nextRun()).toBe(T0 + DAY);

    // Plenty of calls: the next sweep a day later, as configured.
    clock.jump(DAY);
    await pass();
    expect(sweeps).toEqual([T0, T0 + DAY]);

    // 64,000 calls by June 18: 112,941 projected against background's 80,000 — spacing ×1.41.
    counts.set('k', 64_000);
    clock.jump(DAY);
    const spacing = (await quota.forSource('s1'))!.spacing;
    expect(spacing).toBeCloseTo(112_941 / 80_000, 3);
    await pass();
    // Not swept at its usual hour: postponed to spacing × a day after the last, shown in next_run_at.
    expect(sweeps).toHaveLength(2);
    const spaced = T0 + DAY + Math.round(DAY * spacing);
    expect(await nextRun()).toBe(spaced);
    // Status says so.
    const [q] = serializeReport(await quota.fullReport());
    expect(q).toMatchObject({ spaced_out: true, paused: null });
    expect(q.background).toMatch(/^spaced out ×1\.4\d: .*safety-net sweeps of webhook tables/);

    clock.jump(spaced - clock.now() - 1);
    await pass();
    expect(sweeps).toHaveLength(2);
    clock.jump(1);
    await pass();
    expect(sweeps).toEqual([T0, T0 + DAY, spaced]);

    // Background work's part spent (80,000 of 100,000): no sweep until July, whatever is due.
    counts.set('k', 80_000);
    clock.jump(3 * DAY);
    await pass();
    expect(sweeps).toHaveLength(3);
    expect(serializeReport(await quota.fullReport())[0]).toMatchObject({
      paused: 'apps_share',
      resumes_at: '2026-07-01T00:00:00.000Z',
    });
    // A new month: counted from zero, the sweep runs at once.
    counts.set('k', 0);
    clock.jump(Date.UTC(2026, 6, 1) - clock.now());
    await pass();
    expect(sweeps).toHaveLength(4);
    expect(sweeps[3]).toBe(Date.UTC(2026, 6, 1));
  });
});
