import { describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';
import { T0 } from '../support/fake-clock.ts';
import {
  countRows,
  DEMO_BASE_ID,
  harness,
  interceptPages,
  SCHEMA,
  SOURCE_ID,
  tableState,
} from './fixture.ts';

/**
 * Failures while listing (issue 3 "Failures"): 429 storms wait out the 30-s penalty, 5xx bursts
 * are retried, an expired offset restarts the listing, and whatever cannot complete deletes
 * nothing and marks only its own table Failed. Time is virtual: waits advance a shared clock.
 */

async function firstRowId(db: Database, table: string): Promise<string> {
  const r = await db.query<{ id: string }>(sql(`SELECT id FROM ${SCHEMA}.${table} ORDER BY id LIMIT 1`));
  return r.rows[0].id;
}

describe('rate limiting', () => {
  it('survives a 429 storm: waits out the penalty, completes, no wrong deletes', async () => {
    const { db } = await createTestDatabase();
    // Airtable (the emulator) allows 2 requests/s while our budget would send 5: 429s follow.
    const h = await harness(db, { emulator: { records: 450, rateLimit: 2 } });
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    expect(res.tables.map((x) => x.status)).toEqual(['Completed', 'Completed', 'Completed']);
    const stats = h.budget.stats(DEMO_BASE_ID);
    expect(stats.rateLimited).toBeGreaterThan(0);
    // each penalty window blocked the base for 30 s of (virtual) time; 429s of requests that
    // were in flight together (tables are listed in parallel) share one window
    expect(stats.penalties).toBeGreaterThan(0);
    expect(stats.penalties).toBeLessThanOrEqual(stats.rateLimited);
    expect(h.clock.now() - T0).toBeGreaterThanOrEqual(30_000 * stats.penalties);
    const orders = await h.table('Orders');
    expect(await countRows(db, orders)).toBe(450);
    expect((await h.verify()).drift).toBe(0);

    // and an in-place sweep under the same storm deletes exactly what Airtable deleted
    const victim = await firstRowId(db, orders.table);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [victim]);
    const limitedBefore = h.budget.stats(DEMO_BASE_ID).rateLimited;
    const again = await h.syncer.syncTable(SOURCE_ID, h.tableId('Orders'));
    expect(again.status).toBe('Completed');
    expect(again.counters.deleted).toBe(1);
    expect(h.budget.stats(DEMO_BASE_ID).rateLimited).toBeGreaterThan(limitedBefore);
    expect(await countRows(db, orders)).toBe(449);
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('server errors', () => {
  it('retries 5xx bursts mid-listing and ends with the right result', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 250 } });
    await h.syncer.syncAll();
    const ordersId = h.tableId('Orders');
    const orders = await h.table('Orders');
    const victim = await firstRowId(db, orders.table);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [victim]);
    h.emulator.control.fail({ kind: 'status', status: 503, count: 2, match: { path: ordersId } });
    h.emulator.control.fail({ kind: 'status', status: 502, count: 1, match: { path: ordersId } });
    const res = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(res.status).toBe('Completed');
    expect(h.emulator.control.pendingFaults()).toBe(0);
    // 3 pages + 3 failed attempts, all counted
    expect(res.counters.requests).toBe(6);
    expect(res.counters.deleted).toBe(1);
    expect(await countRows(db, orders)).toBe(249);
    expect((await h.verify()).drift).toBe(0);
  });

  it('marks only the failing table Failed, deletes nothing there, and recovers next run', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 250 } });
    await h.syncer.syncAll();
    const ordersId = h.tableId('Orders');
    const orders = await h.table('Orders');
    const victim = await firstRowId(db, orders.table);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [victim]);
    h.emulator.control.fail({ kind: 'status', status: 503, count: 1000, match: { path: ordersId } });
    const [res] = await h.syncer.syncAll();
    const byName = Object.fromEntries(res.tables.map((x) => [x.tableName, x]));
    expect(byName.Orders.status).toBe('Failed');
    expect(byName.Orders.error).toMatch(/RETRIABLE_ERROR|503/);
    expect(byName.Customers.status).toBe('Completed');
    expect(byName.Products.status).toBe('Completed');
    expect(await countRows(db, orders)).toBe(250); // nothing deleted: the listing never completed
    const st = await tableState(db, ordersId);
    expect(st.status).toBe('Failed');
    expect(st.latest_error).toBe(byName.Orders.error);
    const run = await db.query<{ status: string; error: string }>(
      sql(`SELECT status, error FROM airmirror.sync_runs WHERE table_id = $1 ORDER BY id DESC LIMIT 1`, [
        ordersId,
      ]),
    );
    expect(run.rows[0]).toEqual({ status: 'failed', error: byName.Orders.error });

    h.emulator.control.clearFaults();
    const again = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(again.status).toBe('Completed');
    expect(again.counters.deleted).toBe(1);
    const st2 = await tableState(db, ordersId);
    expect(st2.status).toBe('Completed');
    expect(st2.latest_error).toBeNull();
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('expired list iterator', () => {
  it('restarts the listing from page 1 and deletes only after the complete listing', async () => {
    const { db } = await createTestDatabase();
    let expire = 0;
    let pagesSeen: number[] = [];
    let ordersId = '';
    const h = await harness(db, {
      emulator: { records: 350 },
      wrapClient: (c) =>
        interceptPages(ordersId, (n: number, _r: AirtableRecord[]) => {
          pagesSeen.push(n);
          if (expire > 0 && n === 2) {
            expire--;
            h.emulator.control.expireOffsets();
          }
        })(c),
    });
    ordersId = h.tableId('Orders');
    await h.syncer.syncAll();
    const orders = await h.table('Orders');
    const victim = await firstRowId(db, orders.table);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [victim]);

    expire = 1;
    pagesSeen = [];
    const res = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(res.status).toBe('Completed');
    expect(res.counters.listingRestarts).toBe(1);
    expect(pagesSeen).toEqual([1, 2, 1, 2, 3, 4]);
    expect(res.counters.deleted).toBe(1);
    expect(await countRows(db, orders)).toBe(349);
    expect((await h.verify()).drift).toBe(0);

    // An iterator that keeps expiring: bounded restarts, then Failed, and nothing deleted.
    const victim2 = await firstRowId(db, orders.table);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [victim2]);
    expire = 100;
    const res2 = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(res2.status).toBe('Failed');
    expect(res2.error).toMatch(/expired 4 times/);
    expect(res2.counters.deleted).toBe(0);
    expect(await countRows(db, orders)).toBe(349);
    expire = 0;
    expect((await h.syncer.syncTable(SOURCE_ID, ordersId)).counters.deleted).toBe(1);
    expect((await h.verify()).drift).toBe(0);
  });
});
