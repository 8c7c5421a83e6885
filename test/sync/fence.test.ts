import { beforeAll, describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { sql } from '../../src/db/sql.ts';
import { applyRecords } from '../../src/mirror/index.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  countRows,
  DEMO_BASE_ID,
  harness,
  interceptPages,
  SCHEMA,
  SOURCE_ID,
  tableState,
  type Harness,
} from './fixture.ts';

/**
 * The row fence and the hash cache against writes that race a sweep (invariants 3 and 4): what
 * the proxy writes while a sweep is listing is neither rolled back nor deleted, and the cache
 * never hides a change another writer made.
 */
let t: TestDatabase;
let h: Harness;
let onPage: (n: number, records: AirtableRecord[]) => void | Promise<void> = () => undefined;
let ordersId: string;

beforeAll(async () => {
  t = await createTestDatabase();
  // the interceptor looks the table id up lazily: the harness learns it from the schema
  h = await harness(t.db, {
    emulator: { records: 250 },
    wrapClient: (c) => interceptPages(ordersIdOf(), (n, r) => onPage(n, r))(c),
  });
  ordersId = h.tableId('Orders');
  const [first] = await h.syncer.syncAll();
  expect(first.tables.every((x) => x.status === 'Completed')).toBe(true);
});

function ordersIdOf(): string {
  return ordersId;
}

/** What the proxy does after Airtable accepted a write: apply Airtable's answer, stamping the fence. */
async function proxyApply(records: AirtableRecord[]) {
  const orders = await h.table('Orders');
  await applyRecords(t.db, orders, records, {
    origin: 'proxy',
    sourceId: SOURCE_ID,
    keyedBy: 'name',
    stampFence: true,
  });
}

async function notesOf(id: string): Promise<string | null> {
  const orders = await h.table('Orders');
  const col = orders.columns.find((c) => c.fieldName === 'Notes')!.column;
  const r = await t.db.query<{ v: string | null }>(
    sql(`SELECT "${col}" AS v FROM ${SCHEMA}.${orders.table} WHERE id = $1`, [id]),
  );
  return r.rows[0]?.v;
}

describe('a sweep racing proxy writes', () => {
  it('does not delete a record the proxy created after the listing began', async () => {
    let created: AirtableRecord | undefined;
    onPage = async (n) => {
      // after the LAST page was read: the listing cannot contain it, the delete phase is next
      if (n === 3) {
        [created] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Orders', [
          { fields: { Order: 'PROXY-1' } },
        ]);
        await proxyApply([created]);
      }
    };
    const res = await h.syncer.syncTable(SOURCE_ID, ordersId);
    onPage = () => undefined;
    expect(res.status).toBe('Completed');
    expect(res.counters.seen).toBe(250);
    expect(res.counters.deleted).toBe(0);
    const orders = await h.table('Orders');
    expect(await countRows(t.db, orders)).toBe(251);
    const row = await t.db.query(sql(`SELECT 1 FROM ${SCHEMA}.${orders.table} WHERE id = $1`, [created!.id]));
    expect(row.rowCount).toBe(1);
    expect((await h.verify()).drift).toBe(0);
  });

  it('does not let a page fetched before a proxy update roll that update back', async () => {
    let target = '';
    onPage = async (n, records) => {
      if (n === 1) {
        target = records[0].id;
        const [updated] = h.emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [
          { id: target, fields: { Notes: 'written through the proxy' } },
        ]);
        await proxyApply([updated]);
      }
    };
    // full: the cache is cleared, so the stale copy of the record really reaches the write path
    const res = await h.syncer.syncTable(SOURCE_ID, ordersId, { full: true });
    onPage = () => undefined;
    expect(res.status).toBe('Completed');
    expect(res.counters.fencedOut).toBe(1);
    expect(await notesOf(target)).toBe('written through the proxy');
    // the fenced record was not learned: the next sweep looks at it again and finds it current
    const again = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(again.counters.cached).toBe(again.counters.seen - 1);
    expect(await notesOf(target)).toBe('written through the proxy');
    expect((await h.verify()).drift).toBe(0);
  });

  it('does not trust the cache for a row another writer changed (A → proxy B → UI back to A)', async () => {
    const orders = await h.table('Orders');
    const some = await t.db.query<{ id: string }>(
      sql(`SELECT id FROM ${SCHEMA}.${orders.table} ORDER BY id LIMIT 1 OFFSET 5`),
    );
    const id = some.rows[0].id;
    await h.syncer.syncTable(SOURCE_ID, ordersId); // cache knows version A
    const original = await notesOf(id);
    const [b] = h.emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [
      { id, fields: { Notes: 'version B' } },
    ]);
    await proxyApply([b]);
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [{ id, fields: { Notes: original } }]);
    const res = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(res.status).toBe('Completed');
    expect(await notesOf(id)).toBe(original);
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('cancel', () => {
  it('stops a sweep mid-listing, deletes nothing and marks the table Cancelled', async () => {
    const orders = await h.table('Orders');
    const victim = (
      await t.db.query<{ id: string }>(sql(`SELECT id FROM ${SCHEMA}.${orders.table} ORDER BY id LIMIT 1`))
    ).rows[0].id;
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [victim]);
    const before = await countRows(t.db, orders);
    onPage = (n) => {
      if (n === 1) expect(h.syncer.cancel(ordersId)).toBe(true);
    };
    const res = await h.syncer.syncTable(SOURCE_ID, ordersId);
    onPage = () => undefined;
    expect(res.status).toBe('Cancelled');
    expect(res.counters.deleted).toBe(0);
    expect(await countRows(t.db, orders)).toBe(before);
    const st = await tableState(t.db, ordersId);
    expect(st.status).toBe('Cancelled');
    expect(h.syncer.cancel(ordersId)).toBe(false);
    const runs = await t.db.query<{ status: string }>(
      sql(`SELECT status FROM airmirror.sync_runs WHERE table_id = $1 ORDER BY id DESC LIMIT 1`, [ordersId]),
    );
    expect(runs.rows[0].status).toBe('cancelled');
    // the next complete sweep deletes it
    const res2 = await h.syncer.syncTable(SOURCE_ID, ordersId);
    expect(res2.counters.deleted).toBe(1);
    expect(await countRows(t.db, orders)).toBe(before - 1);
    expect((await tableState(t.db, ordersId)).status).toBe('Completed');
    expect((await h.verify()).drift).toBe(0);
  });
});
