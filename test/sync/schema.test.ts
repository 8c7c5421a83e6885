import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SCHEMA, SOURCE_ID, tableState, type Harness } from './fixture.ts';
import {
  canSelect,
  comment,
  connect,
  indexesOf,
  lastOutboxId,
  outboxSince,
  policiesOf,
  readerRole,
  relation,
  rowSecurity,
  triggersOf,
  viewDef,
  whileReading,
} from './readers.ts';

/**
 * Schema changes follow Airtable (docs/DESIGN.md flow 3, invariant 10, docs/schema-changes.md),
 * tried as a SQL reader would: a role with its own views, a materialized view, an index, grants,
 * row-level security and a policy, a trigger and comments on the mirror tables. A field added,
 * renamed, retyped (in place, and with a refill) and removed, a table renamed, added and removed:
 * every sync completes, a reader polling on its own connection never gets an error, what readers
 * built survives (or, when it cannot, is named in status and in the `schema.changed` event), and
 * the values a change brought arrive as change events.
 */
let t: TestDatabase;
let h: Harness;
let reader: pg.Client;
const role = readerRole();
const ORDERS = `${SCHEMA}.orders`;

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, { emulator: { records: 120 } });
  const [first] = await h.syncer.syncAll();
  expect(first.rebuilt).toBe(true);
  const q = (text: string) => t.db.query(sql(text));
  await q(`CREATE ROLE ${role}`);
  await q(`CREATE SCHEMA reporting`);
  await q(`GRANT USAGE, CREATE ON SCHEMA reporting TO ${role}`);
  await q(`GRANT USAGE ON SCHEMA ${SCHEMA} TO ${role}`);
  await q(`GRANT SELECT ON ${SCHEMA}.customers, ${ORDERS} TO ${role}`);
  await q(`GRANT SELECT (id, stock) ON ${SCHEMA}.products TO ${role}`);
  await q(`CREATE VIEW reporting.recent AS SELECT id, name FROM ${SCHEMA}.customers`);
  await q(`CREATE VIEW reporting.order_notes AS SELECT id, notes FROM ${ORDERS}`);
  await q(`CREATE VIEW reporting.order_totals AS SELECT id, quantity FROM ${ORDERS}`);
  await q(
    `CREATE VIEW reporting.big_orders AS SELECT id FROM reporting.order_totals WHERE quantity IS NOT NULL`,
  );
  await q(`CREATE MATERIALIZED VIEW reporting.order_count AS SELECT count(*) AS n FROM ${ORDERS}`);
  await q(`CREATE UNIQUE INDEX order_count_n ON reporting.order_count (n)`);
  await q(`COMMENT ON VIEW reporting.recent IS 'customers for the dashboard'`);
  for (const v of ['recent', 'order_notes', 'order_totals', 'big_orders']) {
    await q(`ALTER VIEW reporting.${v} OWNER TO ${role}`);
  }
  await q(`GRANT SELECT ON reporting.recent TO PUBLIC`);
  await q(`CREATE INDEX orders_quantity ON ${ORDERS} (quantity)`);
  await q(`ALTER TABLE ${ORDERS} ENABLE ROW LEVEL SECURITY`);
  await q(
    `CREATE POLICY orders_with_quantity ON ${ORDERS} FOR SELECT TO ${role} USING (quantity IS NOT NULL)`,
  );
  await q(
    `CREATE FUNCTION reporting.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
  );
  await q(
    `CREATE TRIGGER orders_touch BEFORE UPDATE ON ${ORDERS} FOR EACH ROW EXECUTE FUNCTION reporting.touch()`,
  );
  reader = await connect(t.url);
});

afterAll(async () => {
  await h?.syncer.stop();
  await reader?.end();
  await t.db.query(sql(`DROP OWNED BY ${role}`)).catch(() => undefined);
  await t.db.query(sql(`DROP ROLE IF EXISTS ${role}`)).catch(() => undefined);
});

/** What the reader polls: through its views (whatever the tables are called now) and the orders table. */
const POLL = [
  'SELECT count(*) FROM reporting.recent',
  'SELECT count(*) FROM reporting.order_totals',
  'SELECT count(*) FROM reporting.big_orders',
  'SELECT n FROM reporting.order_count',
  `SELECT count(*) FROM ${ORDERS}`,
];

/** Syncs while the reader polls; the sync completes and the reader never got an error. */
async function syncWhileReading() {
  let result!: Awaited<ReturnType<Harness['syncer']['syncAll']>>[number];
  const seen = await whileReading(reader, POLL, async () => {
    [result] = await h.syncer.syncAll();
  });
  expect(result.error).toBeUndefined();
  expect(result.schemaChanged).toBe(true);
  expect(result.tables.filter((x) => x.status !== 'Completed')).toEqual([]);
  expect(seen.errors).toEqual([]);
  expect(seen.rounds).toBeGreaterThan(0);
  expect(await swapExists()).toBe(false);
  const report = await h.verify();
  expect(report.schemaMatches).toBe(true);
  expect(report.drift).toBe(0);
  return result;
}

async function columnsOf(table: string): Promise<Record<string, string>> {
  const r = await t.db.query<{ column_name: string; data_type: string }>(
    sql(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [SCHEMA, table],
    ),
  );
  return Object.fromEntries(r.rows.map((x) => [x.column_name, x.data_type]));
}

async function swapExists(): Promise<boolean> {
  const r = await t.db.query(sql(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [`${SCHEMA}_swap`]));
  return (r.rowCount ?? 0) > 0;
}

/** Everything the reader built on orders is there and answers. */
async function readerObjectsOnOrdersSurvive(orders = ORDERS) {
  expect(await relation(t.db, 'reporting.order_totals')).toMatchObject({ kind: 'v' });
  expect(await relation(t.db, 'reporting.big_orders')).toMatchObject({ kind: 'v' });
  expect(await relation(t.db, 'reporting.order_count')).toMatchObject({ kind: 'm', populated: true });
  expect(await indexesOf(t.db, 'reporting.order_count')).toEqual(['order_count_n']);
  expect(await indexesOf(t.db, orders)).toContain('orders_quantity');
  expect(await policiesOf(t.db, orders)).toEqual(['orders_with_quantity']);
  expect(await rowSecurity(t.db, orders)).toBe(true);
  // The reader's trigger, and airmirror's direct-write guard, once, through every change.
  expect(await triggersOf(t.db, orders)).toEqual(['airmirror_guard', 'orders_touch']);
  expect(await canSelect(t.db, role, orders)).toBe(true);
  const owner = await t.db.query<{ o: string }>(
    sql(`SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE oid = 'reporting.order_totals'::regclass`),
  );
  expect(owner.rows[0].o).toBe(role);
  // The policy holds for the reader's role: it sees orders through it.
  await reader.query(`SET ROLE ${role}`);
  try {
    const r = await reader.query(`SELECT count(*)::int AS n FROM ${orders}`);
    expect(r.rows[0].n).toBeGreaterThanOrEqual(0);
  } finally {
    await reader.query('RESET ROLE');
  }
}

async function schemaEvents(after: number) {
  return (await outboxSince(t.db, after)).filter((e) => e.op === 'schema');
}

describe('schema changes follow Airtable while readers read', () => {
  it('a sync with an unchanged schema changes nothing', async () => {
    const [res] = await h.syncer.syncAll();
    expect(res.schemaChanged).toBe(false);
    expect(res.rebuilt).toBe(false);
  });

  it('field added: a column in place, its values arrive as change events', async () => {
    const before = (await relation(t.db, ORDERS)).oid;
    const mark = await lastOutboxId(t.db);
    h.emulator.control.createField(DEMO_BASE_ID, 'Orders', {
      name: 'Priority',
      type: 'number',
      options: { precision: 0 },
    });
    const orders = await h.table('Orders');
    const ids = (
      await t.db.query<{ id: string }>(sql(`SELECT id FROM ${ORDERS} ORDER BY id LIMIT 3`))
    ).rows.map((r) => r.id);
    h.emulator.control.updateRecords(
      DEMO_BASE_ID,
      'Orders',
      ids.map((id, i) => ({ id, fields: { Priority: i + 1 } })),
    );
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(false);
    expect((await relation(t.db, ORDERS)).oid).toBe(before); // the same table, altered
    expect((await columnsOf('orders')).priority).toBe('numeric');
    await readerObjectsOnOrdersSurvive();
    const events = await outboxSince(t.db, mark);
    const updates = events.filter((e) => e.op === 'update' && e.changed_columns?.includes('priority'));
    expect(updates.map((e) => e.record_id).sort()).toEqual([...ids].sort());
    expect(updates.map((e) => Number(e.after!.priority)).sort()).toEqual([1, 2, 3]);
    expect(updates.every((e) => e.before!.priority === null)).toBe(true);
    const [schemaEvent] = await schemaEvents(mark);
    expect(schemaEvent.after).toMatchObject({
      columns: {
        added: [{ mirror_table: 'orders', column: 'priority', field: 'Priority', type: 'numeric' }],
      },
    });
    expect(orders.columns.some((c) => c.fieldName === 'Priority')).toBe(false); // was not mapped before
  });

  it('field renamed: the column follows, views keep pointing at it, a new field takes the old name', async () => {
    const mark = await lastOutboxId(t.db);
    h.emulator.control.renameField(DEMO_BASE_ID, 'Customers', 'Name', 'Full Name');
    h.emulator.control.createField(DEMO_BASE_ID, 'Customers', { name: 'Name', type: 'singleLineText' });
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(false);
    const cols = await columnsOf('customers');
    expect(cols.full_name).toBe('text');
    expect(cols.name).toBe('text');
    expect(Object.keys(cols).some((c) => c.startsWith('name_'))).toBe(false);
    expect(await viewDef(t.db, 'reporting.recent')).toMatch(/full_name AS name/);
    expect(await comment(t.db, 'reporting.recent')).toBe('customers for the dashboard');
    const customers = await h.table('Customers');
    expect(customers.columns.find((c) => c.column === 'full_name')).toMatchObject({ fieldName: 'Full Name' });
    const col = await t.db.query<{ c: string }>(
      sql(
        `SELECT col_description(to_regclass($1), attnum) AS c FROM pg_attribute
           WHERE attrelid = to_regclass($1) AND attname = 'full_name'`,
        [`${SCHEMA}.customers`],
      ),
    );
    expect(col.rows[0].c).toContain('"Full Name"');
    const [e] = await schemaEvents(mark);
    expect(e.after).toMatchObject({
      columns: {
        renamed: [{ mirror_table: 'customers', from: 'name', column: 'full_name' }],
        added: [{ mirror_table: 'customers', column: 'name' }],
      },
    });
  });

  it('field retyped by a lossless cast: altered in place, the views on it made again', async () => {
    const before = (await relation(t.db, ORDERS)).oid;
    await t.db.query(sql(`CREATE VIEW reporting.priorities AS SELECT id, priority FROM ${ORDERS}`));
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Priority', 'singleLineText');
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(false);
    expect((await relation(t.db, ORDERS)).oid).toBe(before);
    expect((await columnsOf('orders')).priority).toBe('text');
    expect(await relation(t.db, 'reporting.priorities')).toMatchObject({ kind: 'v' });
    await readerObjectsOnOrdersSurvive();
  });

  it('a timestamp retyped to text: cast in place, then every value as Airtable converts it', async () => {
    // Airtable keeps the ISO text of each timestamp; Postgres' cast of a timestamptz reads differently.
    // The records' JSON did not change, yet their rows must be converted again (the hash cache
    // forgets a retyped table).
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Ordered At', 'singleLineText');
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(false);
    expect((await columnsOf('orders')).ordered_at).toBe('text');
    const sample = await t.db.query<{ v: string }>(
      sql(`SELECT ordered_at AS v FROM ${ORDERS} WHERE ordered_at IS NOT NULL LIMIT 1`),
    );
    expect(sample.rows[0].v).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('field retyped so its values must be read again: the table is filled again, reader objects carried over', async () => {
    const before = (await relation(t.db, ORDERS)).oid;
    const customersBefore = (await relation(t.db, `${SCHEMA}.customers`)).oid;
    const withQuantity = await t.db.query<{ id: string }>(
      sql(`SELECT id FROM ${ORDERS} WHERE quantity IS NOT NULL ORDER BY id`),
    );
    // A view that sums the quantities cannot survive them becoming text: it is reported, not a failure.
    await t.db.query(sql(`CREATE VIEW reporting.quantity_sum AS SELECT sum(quantity) AS s FROM ${ORDERS}`));
    const mark = await lastOutboxId(t.db);
    // The emulator's single select takes no number: the cells are emptied (Airtable's conversion).
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Quantity', 'singleSelect');
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(true);
    expect(res.tables.filter((x) => x.rebuild).map((x) => x.tableName)).toEqual(['Orders']);
    expect((await relation(t.db, ORDERS)).oid).not.toBe(before);
    expect((await relation(t.db, `${SCHEMA}.customers`)).oid).toBe(customersBefore);
    expect((await columnsOf('orders')).quantity).toBe('text');
    await readerObjectsOnOrdersSurvive();
    // The values the change brought are change events (origin "schema"), one per row whose value changed.
    const events = (await outboxSince(t.db, mark)).filter((e) => e.op === 'update');
    expect(events.map((e) => e.record_id).sort()).toEqual(withQuantity.rows.map((r) => r.id));
    expect(events.every((e) => e.origin === 'schema' && e.changed_columns!.includes('quantity'))).toBe(true);
    expect(events.every((e) => e.before!.quantity !== null && e.after!.quantity === null)).toBe(true);
    const [e] = await schemaEvents(mark);
    expect(e.after).toMatchObject({
      columns: { retyped: [{ column: 'quantity', from_type: 'numeric', type: 'text', refilled: true }] },
      reader_objects: [{ kind: 'view', name: 'reporting.quantity_sum', dropped: true }],
    });
    expect(await relation(t.db, 'reporting.quantity_sum')).toBeUndefined();
    const rows = await t.db.query<{ n: string }>(sql(`SELECT count(*)::text AS n FROM ${ORDERS}`));
    expect((await tableState(t.db, h.tableId('Orders'))).row_count).toBe(Number(rows.rows[0].n));
  });

  it('field removed: the column goes; a view that selected it is dropped and named in status and the event', async () => {
    const mark = await lastOutboxId(t.db);
    h.emulator.control.deleteField(DEMO_BASE_ID, 'Orders', 'Notes');
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(false);
    expect((await columnsOf('orders')).notes).toBeUndefined();
    expect(await relation(t.db, 'reporting.order_notes')).toBeUndefined();
    await readerObjectsOnOrdersSurvive();
    const warnings = await t.db.query<{ w: { kind: string; message: string }[] }>(
      sql(`SELECT schema_warnings AS w FROM airmirror.tables WHERE table_id = $1`, [h.tableId('Orders')]),
    );
    expect(warnings.rows[0].w).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'dropped',
          message: expect.stringContaining('reporting.order_notes'),
        }),
      ]),
    );
    const status = await t.db.query<{ warnings: unknown }>(
      sql(`SELECT warnings FROM airmirror.sync_status WHERE table_id = $1`, [h.tableId('Orders')]),
    );
    expect(JSON.stringify(status.rows[0].warnings)).toContain('reporting.order_notes');
    const [e] = await schemaEvents(mark);
    expect(e.after).toMatchObject({
      columns: { dropped: [{ column: 'notes' }] },
      reader_objects: [{ kind: 'view', name: 'reporting.order_notes', dropped: true }],
    });
  });

  it('table renamed: the mirror table follows, the views over it keep working', async () => {
    const before = (await relation(t.db, `${SCHEMA}.customers`)).oid;
    h.emulator.control.renameTable(DEMO_BASE_ID, 'Customers', 'Clients');
    const res = await syncWhileReading();
    expect(res.rebuilt).toBe(false);
    expect(await relation(t.db, `${SCHEMA}.customers`)).toBeUndefined();
    expect((await relation(t.db, `${SCHEMA}.clients`)).oid).toBe(before);
    expect(await viewDef(t.db, 'reporting.recent')).toMatch(/clients/);
    expect(await canSelect(t.db, role, `${SCHEMA}.clients`)).toBe(true);
    const row = await t.db.query<{ mirror_table: string; table_name: string }>(
      sql(`SELECT mirror_table, table_name FROM airmirror.tables WHERE table_id = $1`, [
        h.tableId('Customers'),
      ]),
    );
    expect(row.rows[0]).toEqual({ mirror_table: 'clients', table_name: 'Clients' });
    expect(await comment(t.db, `${SCHEMA}.clients`)).toContain('"Clients"');
  });

  it('table added: created beside and swapped in, its rows announced as inserts', async () => {
    const mark = await lastOutboxId(t.db);
    const table = h.emulator.control.createTable(DEMO_BASE_ID, {
      name: 'Suppliers',
      fields: [{ name: 'Name', type: 'singleLineText' }],
    });
    h.emulator.control.createRecords(DEMO_BASE_ID, 'Suppliers', [
      { fields: { Name: 'Acme' } },
      { fields: { Name: 'Globex' } },
    ]);
    await syncWhileReading();
    const rows = await t.db.query(sql(`SELECT name FROM ${SCHEMA}.suppliers ORDER BY name`));
    expect(rows.rows.map((r) => r.name)).toEqual(['Acme', 'Globex']);
    const cfg = await t.db.query(
      sql(`SELECT should_sync, sync_type, status, row_count FROM airmirror.tables WHERE table_id = $1`, [
        table.id,
      ]),
    );
    expect(cfg.rows[0]).toEqual({
      should_sync: true,
      sync_type: 'full_refresh',
      status: 'Completed',
      row_count: 2,
    });
    const inserts = (await outboxSince(t.db, mark)).filter((e) => e.table_id === table.id);
    expect(inserts.map((e) => [e.op, e.after!.name]).sort()).toEqual([
      ['insert', 'Acme'],
      ['insert', 'Globex'],
    ]);
  });

  it('table removed: marked vanished, its mirror table dropped, others untouched', async () => {
    const suppliersId = (await h.table('Suppliers')).tableId;
    const ordersBefore = (await relation(t.db, ORDERS)).oid;
    const mark = await lastOutboxId(t.db);
    h.emulator.control.deleteTable(DEMO_BASE_ID, 'Suppliers');
    await syncWhileReading();
    const [e] = await schemaEvents(mark);
    expect(e.after).toMatchObject({
      tables: { dropped: [{ table_id: suppliersId, mirror_table: 'suppliers', reason: 'deleted' }] },
    });
    expect(await relation(t.db, `${SCHEMA}.suppliers`)).toBeUndefined();
    expect((await relation(t.db, ORDERS)).oid).toBe(ordersBefore);
    const cfg = await t.db.query<{ vanished_at: Date | null }>(
      sql(`SELECT vanished_at FROM airmirror.tables WHERE table_id = $1`, [suppliersId]),
    );
    expect(cfg.rows[0].vanished_at).toBeInstanceOf(Date);
    await expect(h.syncer.syncTable(SOURCE_ID, suppliersId)).resolves.toMatchObject({ status: 'Skipped' });
  });

  it('a field and its table renamed at once: every kind of reader object on the table survives, and back', async () => {
    const before = (await relation(t.db, ORDERS)).oid;
    const PURCHASES = `${SCHEMA}.purchases`;
    // The reader polls through its views: their names stay while the table and column move.
    const viaViews = POLL.filter((q) => q.includes('reporting.'));
    const renamed = async () => {
      const [res] = await h.syncer.syncAll();
      expect(res.error).toBeUndefined();
      expect(res.schemaChanged).toBe(true);
      expect(res.rebuilt).toBe(false);
      expect(res.tables.filter((x) => x.status !== 'Completed')).toEqual([]);
    };
    h.emulator.control.renameField(DEMO_BASE_ID, 'Orders', 'Quantity', 'Units');
    h.emulator.control.renameTable(DEMO_BASE_ID, 'Orders', 'Purchases');
    expect((await whileReading(reader, viaViews, renamed)).errors).toEqual([]);
    expect(await relation(t.db, ORDERS)).toBeUndefined();
    expect((await relation(t.db, PURCHASES)).oid).toBe(before);
    expect((await columnsOf('purchases')).units).toBeDefined();
    expect(await viewDef(t.db, 'reporting.order_totals')).toMatch(/units AS quantity[\s\S]*purchases/);
    await readerObjectsOnOrdersSurvive(PURCHASES);
    const policy = await t.db.query<{ q: string }>(
      sql(`SELECT pg_get_expr(polqual, polrelid) AS q FROM pg_policy WHERE polname = 'orders_with_quantity'`),
    );
    expect(policy.rows[0].q).toMatch(/units IS NOT NULL/);
    expect((await h.verify()).drift).toBe(0);

    h.emulator.control.renameField(DEMO_BASE_ID, 'Purchases', 'Units', 'Quantity');
    h.emulator.control.renameTable(DEMO_BASE_ID, 'Purchases', 'Orders');
    expect((await whileReading(reader, viaViews, renamed)).errors).toEqual([]);
    expect((await relation(t.db, ORDERS)).oid).toBe(before);
    expect((await columnsOf('orders')).quantity).toBeDefined();
    await readerObjectsOnOrdersSurvive();
  });
});

describe('a refill that cannot finish', () => {
  it('leaves the old table serving and marks it Failed; the next sync finishes the change', async () => {
    const before = await columnsOf('orders');
    const ordersId = h.tableId('Orders');
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Ship By', 'singleLineText');
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Gift', 'number');
    h.emulator.control.fail({ kind: 'status', status: 503, count: 1000, match: { path: ordersId } });
    let res!: Awaited<ReturnType<Harness['syncer']['syncAll']>>[number];
    const seen = await whileReading(reader, POLL, async () => {
      [res] = await h.syncer.syncAll();
    });
    h.emulator.control.clearFaults();
    expect(seen.errors).toEqual([]);
    expect(res.error).toMatch(/^schema rebuild failed/);
    expect(res.error).toMatch(/503|unavailable|server/i);
    expect(res.tables.find((x) => x.tableId === ordersId)).toMatchObject({ status: 'Failed' });
    // The other tables synced as usual.
    expect(res.tables.filter((x) => x.tableId !== ordersId).every((x) => x.status === 'Completed')).toBe(
      true,
    );
    expect((await columnsOf('orders')).gift).toBe(before.gift);
    expect(await swapExists()).toBe(false);
    expect((await tableState(t.db, ordersId)).latest_error).toMatch(/^schema rebuild failed/);

    const [again] = await h.syncer.syncAll();
    expect(again.error).toBeUndefined();
    expect((await columnsOf('orders')).gift).toBe('numeric');
    expect((await tableState(t.db, ordersId)).latest_error).toBeNull();
    expect((await h.verify()).drift).toBe(0);
    await readerObjectsOnOrdersSurvive();
  });

  it('a table airmirror did not create is never replaced: a rename onto its name is refused, naming it', async () => {
    await t.db.query(sql(`CREATE TABLE ${SCHEMA}.stock (mine int)`));
    await t.db.query(sql(`INSERT INTO ${SCHEMA}.stock VALUES (7)`));
    const productsOid = (await relation(t.db, `${SCHEMA}.products`)).oid;
    h.emulator.control.renameTable(DEMO_BASE_ID, 'Products', 'Stock');
    const [res] = await h.syncer.syncAll();
    expect(res.error).toMatch(new RegExp(`table ${SCHEMA}\\.stock exists and is not an airmirror table`));
    expect((await t.db.query(sql(`SELECT mine FROM ${SCHEMA}.stock`))).rows).toEqual([{ mine: 7 }]);
    expect((await relation(t.db, `${SCHEMA}.products`)).oid).toBe(productsOid);
    // The tables keep syncing under the layout they have meanwhile.
    expect(res.tables.find((x) => x.tableId === h.tableId('Products'))).toMatchObject({
      status: 'Completed',
    });
    await t.db.query(sql(`DROP TABLE ${SCHEMA}.stock`));
    const [again] = await h.syncer.syncAll();
    expect(again.error).toBeUndefined();
    expect((await relation(t.db, `${SCHEMA}.stock`)).oid).toBe(productsOid);
    h.emulator.control.renameTable(DEMO_BASE_ID, 'Stock', 'Products');
    expect((await h.syncer.syncAll())[0].error).toBeUndefined();
    expect((await relation(t.db, `${SCHEMA}.products`)).oid).toBe(productsOid);
  });

  it('a swap schema airmirror did not create is never dropped: the refill is refused, naming it', async () => {
    await t.db.query(sql(`CREATE SCHEMA ${SCHEMA}_swap`));
    await t.db.query(sql(`CREATE TABLE ${SCHEMA}_swap.mine (x int)`));
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Status', 'multipleSelects');
    const [res] = await h.syncer.syncAll();
    expect(res.error).toMatch(new RegExp(`schema "${SCHEMA}_swap" exists and was not created by airmirror`));
    const kept = await t.db.query(sql(`SELECT to_regclass($1) AS r`, [`${SCHEMA}_swap.mine`]));
    expect(kept.rows[0].r).toBe(`${SCHEMA}_swap.mine`);
    // Nor at start-up, where a swap schema of airmirror's own would be cleaned up.
    const other = (await harness(t.db, { emulator: { records: 120 } })).syncer;
    await other.start();
    await other.stop();
    expect(
      (await t.db.query(sql(`SELECT to_regclass($1) AS r`, [`${SCHEMA}_swap.mine`]))).rows[0].r,
    ).not.toBeNull();
    await t.db.query(sql(`DROP SCHEMA ${SCHEMA}_swap CASCADE`));
    const [again] = await h.syncer.syncAll();
    expect(again.error).toBeUndefined();
    expect((await columnsOf('orders')).status).toBe('ARRAY');
  });

  it('a swap schema of its own left by a crash is dropped at syncer start', async () => {
    const { prepareSwapSchema } = await import('../../src/mirror/index.ts');
    await prepareSwapSchema(t.db, SCHEMA);
    await t.db.query(sql(`CREATE TABLE ${SCHEMA}_swap.orders (id text primary key)`));
    await t.db.query(
      sql(`UPDATE airmirror.tables SET status = 'Running' WHERE table_id = $1`, [h.tableId('Products')]),
    );
    const other = (await harness(t.db, { emulator: { records: 120 } })).syncer;
    await other.start();
    expect(await swapExists()).toBe(false);
    const st = await tableState(t.db, h.tableId('Products'));
    expect(st.status).toBe('Failed');
    expect(st.latest_error).toMatch(/interrupted/);
    await other.stop();
  });
});
