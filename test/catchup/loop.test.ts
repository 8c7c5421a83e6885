/**
 * The catch-up loop of `airmirror start` (invariant 5): ids whose proxy write the mirror missed
 * are re-fetched from Airtable and applied; ids Airtable no longer has are deleted; a nudge
 * wakes the loop at once.
 */
import { describe, expect, it } from 'vitest';
import { DEMO_BASE_ID } from '../../emulator/index.ts';
import { CatchupLoop } from '../../src/catchup/loop.ts';
import { sql } from '../../src/db/sql.ts';
import { insertCatchup } from '../../src/catchup/store.ts';
import { createTestDatabase } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';
import { harness, SCHEMA, silentLog } from '../sync/fixture.ts';

const { db } = await createTestDatabase();
const h = await harness(db);
await h.syncer.syncAll();
const customers = (await h.mapping()).tables.find((t) => t.tableName === 'Customers')!;

async function queued(): Promise<number> {
  const r = await db.query<{ n: string }>(sql('SELECT count(*)::text AS n FROM airmirror.catchup'));
  return Number(r.rows[0].n);
}

function loop(intervalMs = 60_000) {
  return new CatchupLoop({
    db,
    log: silentLog,
    intervalMs,
    fetchRecords: ({ baseId, tableId, recordIds }) => h.client.getRecordsByIds(baseId, tableId, recordIds),
  });
}

describe('CatchupLoop', () => {
  it('applies records the mirror missed and deletes the ones Airtable no longer has', async () => {
    const [a, b] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [
      { fields: { Name: 'Missed create' } },
      { fields: { Name: 'Created then deleted' } },
    ]);
    // Put b in the mirror, then delete it in Airtable: the mirror now holds a row it should not.
    await h.syncer.syncTable(DEMO_BASE_ID, customers.tableId);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Customers', [b.id]);
    const now = new Date().toISOString();
    await db.query(
      insertCatchup(DEMO_BASE_ID, 'Customers', [
        { baseId: DEMO_BASE_ID, tableRef: 'Customers', recordId: a.id, op: 'upsert', queuedAt: now },
        { baseId: DEMO_BASE_ID, tableRef: 'Customers', recordId: b.id, op: 'delete', queuedAt: now },
      ]),
    );
    // a was never mirrored (as if the proxy's apply failed): remove it to be sure.
    await db.query(sql(`DELETE FROM ${SCHEMA}.${customers.table} WHERE id = $1`, [a.id]));
    expect(await queued()).toBe(2);

    const r = await loop().pass();
    expect(r).toEqual({ applied: 1, deleted: 1, remaining: 0 });
    const rows = await db.query<{ id: string; name: string }>(
      sql(`SELECT id, name FROM ${SCHEMA}.${customers.table} WHERE id = ANY($1)`, [[a.id, b.id]]),
    );
    expect(rows.rows).toEqual([{ id: a.id, name: 'Missed create' }]);
    expect(await queued()).toBe(0);
    expect((await h.verify()).tables.every((t) => t.missing === 0 && t.extra === 0)).toBe(true);
  });

  it('wakes at once when nudged, instead of waiting for its interval', async () => {
    const [c] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [{ fields: { Name: 'Nudged' } }]);
    const l = loop(3_600_000);
    l.start();
    try {
      await db.query(
        insertCatchup(DEMO_BASE_ID, customers.tableId, [
          {
            baseId: DEMO_BASE_ID,
            tableRef: customers.tableId,
            recordId: c.id,
            op: 'upsert',
            queuedAt: new Date().toISOString(),
          },
        ]),
      );
      l.nudge();
      await waitUntil(async () => (await queued()) === 0, { timeoutMs: 10_000, what: 'the queue to drain' });
      const row = await db.query(sql(`SELECT name FROM ${SCHEMA}.${customers.table} WHERE id = $1`, [c.id]));
      expect(row.rows).toEqual([{ name: 'Nudged' }]);
    } finally {
      await l.stop();
    }
  });

  it('writes nothing to a paused table: the queued ids are dropped and the table owes a full listing', async () => {
    const [c] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [{ fields: { Name: 'Paused' } }]);
    const setPaused = (on: boolean) =>
      db.query(
        sql(
          `UPDATE airmirror.tables SET should_sync = $2, status = CASE WHEN $2 THEN NULL ELSE 'Paused' END
            WHERE table_id = $1`,
          [customers.tableId, !on],
        ),
      );
    await setPaused(true);
    try {
      await db.query(
        insertCatchup(DEMO_BASE_ID, customers.tableId, [
          {
            baseId: DEMO_BASE_ID,
            tableRef: customers.tableId,
            recordId: c.id,
            op: 'upsert',
            queuedAt: new Date().toISOString(),
          },
        ]),
      );
      const r = await loop().pass();
      expect(r).toEqual({ applied: 0, deleted: 0, remaining: 0 });
      const row = await db.query(sql(`SELECT 1 FROM ${SCHEMA}.${customers.table} WHERE id = $1`, [c.id]));
      expect(row.rowCount).toBe(0);
      const owed = await db.query<{ fill_pending: boolean }>(
        sql('SELECT fill_pending FROM airmirror.tables WHERE table_id = $1', [customers.tableId]),
      );
      expect(owed.rows[0].fill_pending).toBe(true);
    } finally {
      await setPaused(false);
    }
    // Resumed, its run lists it in full and the record arrives.
    expect((await h.syncer.syncTable(DEMO_BASE_ID, customers.tableId)).status).toBe('Completed');
    const row = await db.query(sql(`SELECT name FROM ${SCHEMA}.${customers.table} WHERE id = $1`, [c.id]));
    expect(row.rows).toEqual([{ name: 'Paused' }]);
  });

  it('never requests a field the operator excluded', async () => {
    const schema = await h.client.getBaseSchema(DEMO_BASE_ID);
    const excluded = schema.tables
      .find((t) => t.id === customers.tableId)!
      .fields.find((f) => f.name !== 'Name')!;
    const exclude = async (ids: string[]) => {
      await db.query(
        sql('UPDATE airmirror.tables SET excluded_fields = $2 WHERE table_id = $1', [customers.tableId, ids]),
      );
      expect((await h.syncer.syncAll())[0].error).toBeUndefined();
    };
    await exclude([excluded.id]);
    try {
      const [d] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Customers', [
        { fields: { Name: 'Fields' } },
      ]);
      await db.query(
        insertCatchup(DEMO_BASE_ID, customers.tableId, [
          {
            baseId: DEMO_BASE_ID,
            tableRef: customers.tableId,
            recordId: d.id,
            op: 'upsert',
            queuedAt: new Date().toISOString(),
          },
        ]),
      );
      const asked: (string[] | undefined)[] = [];
      const r = await new CatchupLoop({
        db,
        log: silentLog,
        intervalMs: 60_000,
        fetchRecords: ({ baseId, tableId, recordIds, fields }) => {
          asked.push(fields);
          return h.client.getRecordsByIds(baseId, tableId, recordIds, { fields });
        },
      }).pass();
      expect(r).toMatchObject({ applied: 1, remaining: 0 });
      expect(asked).toHaveLength(1);
      expect(asked[0]!.length).toBeGreaterThan(0);
      expect(asked[0]).not.toContain(excluded.id);
    } finally {
      await exclude([]);
    }
  });

  it('drops queued ids of a table excluded from the mirror: nothing is owed', async () => {
    const products = h.tableId('Products');
    const mirror = async (on: boolean) => {
      await db.query(sql('UPDATE airmirror.tables SET mirrored = $2 WHERE table_id = $1', [products, on]));
      expect((await h.syncer.syncAll())[0].error).toBeUndefined();
    };
    await mirror(false);
    try {
      const [p] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Products', [
        { fields: { Name: 'Excluded' } },
      ]);
      await db.query(
        insertCatchup(DEMO_BASE_ID, 'Products', [
          {
            baseId: DEMO_BASE_ID,
            tableRef: 'Products',
            recordId: p.id,
            op: 'upsert',
            queuedAt: new Date().toISOString(),
          },
        ]),
      );
      let fetched = 0;
      const r = await new CatchupLoop({
        db,
        log: silentLog,
        intervalMs: 60_000,
        fetchRecords: ({ baseId, tableId, recordIds }) => {
          fetched++;
          return h.client.getRecordsByIds(baseId, tableId, recordIds);
        },
      }).pass();
      expect(r).toEqual({ applied: 0, deleted: 0, remaining: 0 });
      expect(fetched).toBe(0);
    } finally {
      await mirror(true);
    }
  });
});
