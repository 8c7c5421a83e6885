import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  countRows,
  DEMO_BASE_ID,
  harness,
  rowVersions,
  SCHEMA,
  SOURCE_ID,
  tableState,
  type Harness,
} from './fixture.ts';

/**
 * The full_refresh sweep against the emulator's demo base: the first sync builds typed tables,
 * a no-change sync writes nothing, and creates / edits / deletes made in Airtable are followed.
 */
let t: TestDatabase;
let h: Harness;

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, { emulator: { records: 250 } });
});

describe('first sync of the demo base', () => {
  it('creates one typed table per Airtable table and fills it', async () => {
    const [res] = await h.syncer.syncAll();
    expect(res.error).toBeUndefined();
    expect(res.rebuilt).toBe(true);
    expect(res.tables.map((x) => [x.tableName, x.status]).sort()).toEqual([
      ['Customers', 'Completed'],
      ['Orders', 'Completed'],
      ['Products', 'Completed'],
    ]);
    const orders = await h.table('Orders');
    expect(await countRows(t.db, orders)).toBe(250);
    const ordersResult = res.tables.find((x) => x.tableName === 'Orders')!;
    expect(ordersResult.counters.seen).toBe(250);
    expect(ordersResult.counters.inserted).toBe(250);
    // 3 pages of 100 at most; the budget/requests are counted through the client's onRequest
    expect(ordersResult.counters.requests).toBe(3);

    const st = await tableState(t.db, h.tableId('Orders'));
    expect(st.status).toBe('Completed');
    expect(st.latest_error).toBeNull();
    expect(st.last_synced_at).toBeInstanceOf(Date);
    expect(Number(st.row_count)).toBe(250);
  });

  it('maps every field type to its column type (docs/DESIGN.md type mapping)', async () => {
    const schema = await h.client.getBaseSchema(DEMO_BASE_ID);
    const mapping = await h.mapping();
    const types = await t.db.query<{
      table_name: string;
      column_name: string;
      data_type: string;
      udt_name: string;
    }>(
      sql(
        `SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns WHERE table_schema = $1`,
        [SCHEMA],
      ),
    );
    const typeOf = (table: string, column: string) => {
      const c = types.rows.find((r) => r.table_name === table && r.column_name === column);
      return c ? (c.data_type === 'ARRAY' ? c.udt_name : c.data_type) : undefined;
    };
    const expected: Record<string, string> = {
      singleLineText: 'text',
      multilineText: 'text',
      richText: 'text',
      email: 'text',
      url: 'text',
      phoneNumber: 'text',
      singleSelect: 'text',
      externalSyncSource: 'text',
      multipleSelects: '_text',
      multipleRecordLinks: '_text',
      number: 'numeric',
      currency: 'numeric',
      percent: 'numeric',
      duration: 'numeric',
      rating: 'bigint',
      autoNumber: 'bigint',
      count: 'bigint',
      checkbox: 'boolean',
      date: 'date',
      dateTime: 'timestamp with time zone',
      createdTime: 'timestamp with time zone',
      lastModifiedTime: 'timestamp with time zone',
      singleCollaborator: 'jsonb',
      multipleCollaborators: 'jsonb',
      createdBy: 'jsonb',
      lastModifiedBy: 'jsonb',
      multipleAttachments: 'jsonb',
      barcode: 'jsonb',
      button: 'jsonb',
      aiText: 'jsonb',
    };
    const seenTypes = new Set<string>();
    for (const table of schema.tables) {
      const m = mapping.tables.find((x) => x.tableId === table.id)!;
      expect(typeOf(m.table, 'id')).toBe('text');
      expect(typeOf(m.table, 'created_time')).toBe('timestamp with time zone');
      for (const f of table.fields) {
        const col = m.columns.find((c) => c.fieldId === f.id)!;
        expect(col, `${table.name}.${f.name}`).toBeDefined();
        seenTypes.add(f.type);
        if (expected[f.type])
          expect(typeOf(m.table, col.column), `${table.name}.${f.name} (${f.type})`).toBe(expected[f.type]);
      }
    }
    // The demo seed covers every type of the mapping table plus the computed ones.
    for (const type of [...Object.keys(expected), 'formula', 'rollup', 'multipleLookupValues']) {
      expect(seenTypes, type).toContain(type);
    }
    const comment = await t.db.query<{ c: string }>(
      sql(`SELECT obj_description(to_regclass($1), 'pg_class') AS c`, [
        `${SCHEMA}.${(await h.table('Orders')).table}`,
      ]),
    );
    expect(comment.rows[0].c).toBe(`Airtable table "Orders" (${h.tableId('Orders')})`);
  });

  it('mirrors exactly what Airtable has (verify: 0 drift)', async () => {
    const report = await h.verify();
    expect(report.schemaMatches).toBe(true);
    expect(report.tables.map((x) => [x.tableName, x.missing, x.extra, x.different])).toEqual(
      expect.arrayContaining([
        ['Orders', 0, 0, 0],
        ['Customers', 0, 0, 0],
        ['Products', 0, 0, 0],
      ]),
    );
    expect(report.drift).toBe(0);
  });

  it('records every run in airmirror.sync_runs', async () => {
    const runs = await t.db.query<{
      kind: string;
      status: string;
      table_id: string | null;
      records_seen: number;
      finished_at: Date | null;
    }>(
      sql(
        `SELECT kind, status, table_id, records_seen, finished_at FROM airmirror.sync_runs WHERE source_id = $1`,
        [SOURCE_ID],
      ),
    );
    expect(runs.rows.filter((r) => r.kind === 'schema')).toHaveLength(1);
    const tableRuns = runs.rows.filter((r) => r.table_id !== null);
    expect(tableRuns).toHaveLength(3);
    for (const r of runs.rows) {
      expect(r.status).toBe('completed');
      expect(r.finished_at).toBeInstanceOf(Date);
    }
    expect(tableRuns.find((r) => r.table_id === h.tableId('Orders'))!.records_seen).toBe(250);
  });
});

describe('a sync with nothing changed', () => {
  it('writes no mirror row (xmin+ctid of every row unchanged, no outbox event) and skips by hash', async () => {
    const mapping = await h.mapping();
    const before = await Promise.all(mapping.tables.map((m) => rowVersions(t.db, m)));
    const outbox = await t.db.query<{ n: string }>(sql('SELECT count(*)::text AS n FROM airmirror.outbox'));
    const [res] = await h.syncer.syncAll();
    expect(res.rebuilt).toBe(false);
    const orders = res.tables.find((x) => x.tableName === 'Orders')!;
    expect(orders.status).toBe('Completed');
    expect(orders.counters).toMatchObject({
      seen: 250,
      cached: 250,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      deleted: 0,
    });
    const after = await Promise.all(mapping.tables.map((m) => rowVersions(t.db, m)));
    expect(after).toEqual(before);
    const outboxAfter = await t.db.query<{ n: string }>(
      sql('SELECT count(*)::text AS n FROM airmirror.outbox'),
    );
    expect(outboxAfter.rows[0].n).toBe(outbox.rows[0].n);
  });

  it('also writes nothing without the cache (full refresh: the write path skips identical rows)', async () => {
    const orders = await h.table('Orders');
    const before = await rowVersions(t.db, orders);
    const res = await h.syncer.syncTable(SOURCE_ID, h.tableId('Orders'), { full: true });
    expect(res.status).toBe('Completed');
    expect(res.counters).toMatchObject({ seen: 250, cached: 0, unchanged: 250, inserted: 0, updated: 0 });
    expect(await rowVersions(t.db, orders)).toEqual(before);
  });
});

describe('changes made in Airtable', () => {
  it('follows creates, edits and deletes', async () => {
    const orders = await h.table('Orders');
    const ids = (
      await t.db.query<{ id: string }>(sql(`SELECT id FROM ${SCHEMA}.${orders.table} ORDER BY id LIMIT 3`))
    ).rows.map((r) => r.id);
    const [created] = h.emulator.control.createRecords(DEMO_BASE_ID, 'Orders', [
      { fields: { Order: 'NEW-1', Quantity: 7 } },
    ]);
    h.emulator.control.updateRecords(DEMO_BASE_ID, 'Orders', [
      { id: ids[0], fields: { Notes: 'edited in the UI' } },
    ]);
    h.emulator.control.deleteRecords(DEMO_BASE_ID, 'Orders', [ids[1]]);

    const res = await h.syncer.syncTable(SOURCE_ID, h.tableId('Orders'));
    expect(res.status).toBe('Completed');
    expect(res.counters.inserted).toBe(1);
    expect(res.counters.deleted).toBe(1);
    // the edit, plus computed fields of other records are not touched by it
    expect(res.counters.updated).toBeGreaterThanOrEqual(1);

    const col = (name: string) => orders.columns.find((c) => c.fieldName === name)!.column;
    const row = await t.db.query(
      sql(`SELECT "${col('Notes')}" AS notes FROM ${SCHEMA}.${orders.table} WHERE id = $1`, [ids[0]]),
    );
    expect(row.rows[0].notes).toBe('edited in the UI');
    const gone = await t.db.query(sql(`SELECT 1 FROM ${SCHEMA}.${orders.table} WHERE id = $1`, [ids[1]]));
    expect(gone.rowCount).toBe(0);
    const added = await t.db.query(
      sql(`SELECT "${col('Quantity')}" AS q FROM ${SCHEMA}.${orders.table} WHERE id = $1`, [created.id]),
    );
    expect(added.rows[0].q).toBe('7');
    expect((await h.verify()).drift).toBe(0);
  });

  it('reports drift when the mirror is edited behind its back', async () => {
    const orders = await h.table('Orders');
    const col = orders.columns.find((c) => c.fieldName === 'Notes')!.column;
    const some = await t.db.query<{ id: string }>(
      sql(`SELECT id FROM ${SCHEMA}.${orders.table} ORDER BY id LIMIT 1`),
    );
    await t.db.query(
      sql(`UPDATE ${SCHEMA}.${orders.table} SET "${col}" = 'tampered' WHERE id = $1`, [some.rows[0].id]),
    );
    await t.db.query(
      sql(
        `DELETE FROM ${SCHEMA}.${orders.table} WHERE id IN (SELECT id FROM ${SCHEMA}.${orders.table} ORDER BY id DESC LIMIT 1)`,
      ),
    );
    const report = await h.verify();
    const d = report.tables.find((x) => x.tableName === 'Orders')!;
    expect(d.different).toBe(1);
    expect(d.missing).toBe(1);
    expect(d.examples.different[0]).toEqual({ id: some.rows[0].id, columns: [col] });
    expect(report.drift).toBe(2);
    // a full refresh repairs it
    await h.syncer.syncTable(SOURCE_ID, h.tableId('Orders'), { full: true });
    expect((await h.verify()).drift).toBe(0);
  });
});
