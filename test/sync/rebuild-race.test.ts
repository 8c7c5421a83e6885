import { describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { sql } from '../../src/db/sql.ts';
import { applyRecords } from '../../src/mirror/index.ts';
import { createTestDatabase } from '../support/db.ts';
import {
  DEMO_BASE_ID,
  harness,
  interceptPages,
  rowVersions,
  SCHEMA,
  SOURCE_ID,
  tableState,
} from './fixture.ts';

/**
 * Proxy writes that land while a refill fills the swap schema go to the old tables, which the
 * promote drops. The refill fetches those rows again right after the promote, so the new tables
 * do not lose them (read-your-writes survives a schema change). A number field turned into a
 * single select is a change whose values must be read again: Orders is filled again.
 */
describe('writes during a rebuild', () => {
  it('are in the promoted tables', async () => {
    const { db } = await createTestDatabase();
    let ordersId = '';
    let during: ((n: number, records: AirtableRecord[]) => Promise<void>) | undefined;
    const h = await harness(db, {
      emulator: { records: 150 },
      wrapClient: (c) => interceptPages(ordersId, (n, r) => during?.(n, r) ?? undefined)(c),
    });
    ordersId = h.tableId('Orders');
    await h.syncer.syncAll();
    const orders = await h.table('Orders');
    const proxyApply = (records: AirtableRecord[]) =>
      applyRecords(db, orders, records, {
        origin: 'proxy',
        sourceId: SOURCE_ID,
        keyedBy: 'name',
        stampFence: true,
      });

    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Quantity', 'singleSelect');
    let updatedId = '';
    let createdId = '';
    let deletedId = '';
    during = async (n, records) => {
      if (n !== 1) return;
      // page 1 of the swap fill was read; now the proxy updates one of its records, creates one
      // and deletes one (each accepted by Airtable, then applied to the live — old — table)
      updatedId = records[0].id;
      deletedId = records[1].id;
      const [u] = h.emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [
        { id: updatedId, fields: { Notes: 'during rebuild' } },
      ]);
      await proxyApply([u]);
      const [c] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Orders', [
        { fields: { Order: 'DURING-REBUILD' } },
      ]);
      createdId = c.id;
      await proxyApply([c]);
      h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [deletedId]);
      const { applyDeletes } = await import('../../src/mirror/index.ts');
      await applyDeletes(db, orders, [deletedId], { origin: 'proxy', sourceId: SOURCE_ID, stampFence: true });
    };
    const [res] = await h.syncer.syncAll();
    during = undefined;
    expect(res.rebuilt).toBe(true);
    const promoted = await h.table('Orders');
    expect(promoted.columns.find((c) => c.fieldName === 'Quantity')).toMatchObject({
      airtableType: 'singleSelect',
      pgType: 'text',
    });
    const notes = promoted.columns.find((c) => c.fieldName === 'Notes')!.column;
    const rows = await db.query<{ id: string; notes: string | null }>(
      sql(`SELECT id, "${notes}" AS notes FROM ${SCHEMA}.${promoted.table} WHERE id = ANY($1)`, [
        [updatedId, createdId, deletedId],
      ]),
    );
    const byId = Object.fromEntries(rows.rows.map((r) => [r.id, r.notes]));
    expect(byId[updatedId]).toBe('during rebuild');
    expect(createdId in byId).toBe(true);
    expect(deletedId in byId).toBe(false);
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('paused tables and table addressing', () => {
  it('skips a paused table, finds a table by its row id, and refreshSchema is a no-op when unchanged', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 30 } });
    await h.syncer.syncAll();
    const customersId = h.tableId('Customers');
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = false, status = 'Paused' WHERE table_id = $1`, [
        customersId,
      ]),
    );
    const [res] = await h.syncer.syncAll();
    const customers = res.tables.find((x) => x.tableId === customersId)!;
    expect(customers).toMatchObject({ status: 'Skipped', reason: 'paused' });
    expect((await tableState(db, customersId)).status).toBe('Paused');

    const row = await db.query<{ id: string }>(
      sql(`SELECT id FROM airmirror.tables WHERE table_id = $1`, [h.tableId('Orders')]),
    );
    const byRow = await h.syncer.syncTable(SOURCE_ID, row.rows[0].id);
    expect(byRow).toMatchObject({ status: 'Completed', tableId: h.tableId('Orders') });

    const refresh = await h.syncer.refreshSchema(SOURCE_ID);
    expect(refresh).toMatchObject({ changed: false, rebuilt: false });
    h.emulator.control.createField(DEMO_BASE_ID, 'Orders', {
      name: 'Extra',
      type: 'number',
      options: { precision: 0 },
    });
    const refresh2 = await h.syncer.refreshSchema(SOURCE_ID);
    // An added field is a column added in place: nothing is filled again.
    expect(refresh2).toMatchObject({ changed: true, rebuilt: false });
    // The paused table is written by nothing and keeps its rows; it stays Paused.
    expect((await tableState(db, customersId)).status).toBe('Paused');
    const n = await db.query(sql(`SELECT count(*)::int AS n FROM ${SCHEMA}.customers`));
    expect(n.rows[0].n).toBeGreaterThan(0);
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('a table paused before the base is built', () => {
  it('gets its mirror table empty, written by nothing, and its rows when it resumes', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 30 } });
    const productsId = h.tableId('Products');
    await db.query(
      sql(
        `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table, should_sync, status)
         VALUES ('paused-products', $1, $2, 'Products', 'products', false, 'Paused')`,
        [SOURCE_ID, productsId],
      ),
    );
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    const count = async (table: string) =>
      (await db.query<{ n: number }>(sql(`SELECT count(*)::int AS n FROM ${SCHEMA}.${table}`))).rows[0].n;
    expect(await count('products')).toBe(0);
    expect(await count('orders')).toBe(30);
    const state = await db.query<{ status: string; fill_pending: boolean; row_count: number }>(
      sql('SELECT status, fill_pending, row_count FROM airmirror.tables WHERE table_id = $1', [productsId]),
    );
    expect(state.rows[0]).toEqual({ status: 'Paused', fill_pending: true, row_count: 0 });
    // Listing it never happened.
    expect(h.emulator.control.calls({ method: 'GET', path: `/${productsId}` })).toEqual([]);

    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = true, status = NULL WHERE table_id = $1`, [productsId]),
    );
    const run = await h.syncer.syncTable(SOURCE_ID, productsId);
    expect(run.status).toBe('Completed');
    expect(await count('products')).toBeGreaterThan(0);
    expect((await tableState(db, productsId)).row_count).toBe(await count('products'));
    expect((await h.verify()).drift).toBe(0);
  });
});

describe('a paused table whose field changes so its values must be read again', () => {
  it('keeps its column and rows as they are, says the change is deferred, and makes it when it resumes', async () => {
    const { db } = await createTestDatabase();
    const h = await harness(db, { emulator: { records: 30 } });
    await h.syncer.syncAll();
    const customersId = h.tableId('Customers');
    const setPaused = (on: boolean) =>
      db.query(
        sql(
          `UPDATE airmirror.tables SET should_sync = $2, status = CASE WHEN $2 THEN NULL ELSE 'Paused' END
            WHERE table_id = $1`,
          [customersId, !on],
        ),
      );
    const tierType = async () =>
      (
        await db.query<{ t: string }>(
          sql(
            `SELECT data_type AS t FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = 'customers' AND column_name = 'tier'`,
            [SCHEMA],
          ),
        )
      ).rows[0].t;
    const warnings = async () =>
      (
        await db.query<{ w: { kind: string; message: string }[] }>(
          sql('SELECT warnings AS w FROM airmirror.sync_status WHERE table_id = $1', [customersId]),
        )
      ).rows[0].w;
    await setPaused(true);
    const customers = await h.table('Customers');
    const before = await rowVersions(db, customers);
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Customers', 'Tier', 'multipleSelects');
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    expect(res.rebuilt).toBe(false);
    // Written by nothing: the same rows, the column keeps its type until the table resumes.
    expect(await tierType()).toBe('text');
    expect(await rowVersions(db, customers)).toEqual(before);
    expect(await warnings()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'deferred',
          message: expect.stringContaining('column tier keeps type text'),
        }),
      ]),
    );
    // Nothing more to do while it stays paused: the next sync changes nothing.
    expect((await h.syncer.syncAll())[0].schemaChanged).toBe(false);

    await setPaused(false);
    const [resumed] = await h.syncer.syncAll();
    expect(resumed.error).toBeUndefined();
    expect(resumed.schemaChanged).toBe(true);
    expect(await tierType()).toBe('ARRAY');
    expect((await warnings()).filter((w) => w.kind === 'deferred')).toEqual([]);
    expect((await h.verify()).drift).toBe(0);
    await h.syncer.stop();
  });
});
