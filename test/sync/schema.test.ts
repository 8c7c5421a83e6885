import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { DEMO_BASE_ID, harness, SCHEMA, SOURCE_ID, tableState, type Harness } from './fixture.ts';

/**
 * Schema changes (docs/DESIGN.md flow 3, invariant 2): every kind of change rebuilds the base through
 * `<schema>_swap` and promotes it in one transaction, while a reader looping `select` on its own
 * connection never gets an error or an empty table.
 */
let t: TestDatabase;
let h: Harness;
let reader: pg.Client;

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, { emulator: { records: 120 } });
  const [first] = await h.syncer.syncAll();
  expect(first.rebuilt).toBe(true);
  reader = new pg.Client(t.url);
  await reader.connect();
});

afterAll(async () => {
  await h?.syncer.stop();
  await reader?.end();
});

/** Runs `fn` while the reader loops counting customers and orders; returns what the reader saw. */
async function whileReading(fn: () => Promise<void>) {
  let stop = false;
  const errors: string[] = [];
  let reads = 0;
  let minOrders = Infinity;
  let minCustomers = Infinity;
  const loop = (async () => {
    while (!stop) {
      try {
        const r = await reader.query(
          `SELECT (SELECT count(*) FROM ${SCHEMA}.orders)::int AS o, (SELECT count(*) FROM ${SCHEMA}.customers)::int AS c`,
        );
        minOrders = Math.min(minOrders, r.rows[0].o);
        minCustomers = Math.min(minCustomers, r.rows[0].c);
        reads++;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  })();
  try {
    await fn();
  } finally {
    stop = true;
    await loop;
  }
  return { errors, reads, minOrders, minCustomers };
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

/** Syncs after a schema change and checks the rebuild went through the swap and the reader was fine. */
async function syncExpectingRebuild() {
  let result!: Awaited<ReturnType<Harness['syncer']['syncAll']>>[number];
  const seen = await whileReading(async () => {
    [result] = await h.syncer.syncAll();
  });
  expect(result.error).toBeUndefined();
  expect(result.schemaChanged).toBe(true);
  expect(result.rebuilt).toBe(true);
  expect(result.tables.every((x) => x.status === 'Completed' && x.rebuild)).toBe(true);
  expect(seen.errors).toEqual([]);
  expect(seen.reads).toBeGreaterThan(0);
  expect(seen.minOrders).toBe(120);
  expect(seen.minCustomers).toBeGreaterThan(0);
  expect(await swapExists()).toBe(false);
  const report = await h.verify();
  expect(report.schemaMatches).toBe(true);
  expect(report.drift).toBe(0);
  return result;
}

describe('schema changes rebuild through the swap schema', () => {
  it('a sync with an unchanged schema does not rebuild', async () => {
    const [res] = await h.syncer.syncAll();
    expect(res.schemaChanged).toBe(false);
    expect(res.rebuilt).toBe(false);
  });

  it('field added', async () => {
    h.emulator.control.createField(DEMO_BASE_ID, 'Orders', {
      name: 'Priority',
      type: 'number',
      options: { precision: 0 },
    });
    await syncExpectingRebuild();
    expect((await columnsOf('orders')).priority).toBe('numeric');
  });

  it('field renamed', async () => {
    h.emulator.control.renameField(DEMO_BASE_ID, 'Orders', 'Priority', 'Urgency');
    await syncExpectingRebuild();
    const orders = await h.table('Orders');
    const col = orders.columns.find((c) => c.fieldName === 'Urgency');
    expect(col).toBeDefined();
    expect(orders.columns.find((c) => c.fieldName === 'Priority')).toBeUndefined();
    const comment = await t.db.query<{ c: string }>(
      sql(
        `SELECT col_description(to_regclass($1), attnum) AS c FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2`,
        [`${SCHEMA}.orders`, col!.column],
      ),
    );
    expect(comment.rows[0].c).toContain('"Urgency"');
  });

  it('field retyped', async () => {
    expect((await columnsOf('orders')).quantity).toBe('numeric');
    h.emulator.control.changeFieldType(DEMO_BASE_ID, 'Orders', 'Quantity', 'singleLineText');
    await syncExpectingRebuild();
    expect((await columnsOf('orders')).quantity).toBe('text');
  });

  it('field removed', async () => {
    h.emulator.control.deleteField(DEMO_BASE_ID, 'Orders', 'Notes');
    await syncExpectingRebuild();
    expect((await columnsOf('orders')).notes).toBeUndefined();
  });

  it('table added: a new mirror table and a new sync configuration row', async () => {
    const table = h.emulator.control.createTable(DEMO_BASE_ID, {
      name: 'Suppliers',
      fields: [{ name: 'Name', type: 'singleLineText' }],
    });
    h.emulator.control.createRecords(DEMO_BASE_ID, 'Suppliers', [
      { fields: { Name: 'Acme' } },
      { fields: { Name: 'Globex' } },
    ]);
    await syncExpectingRebuild();
    const rows = await t.db.query(sql(`SELECT name FROM ${SCHEMA}.suppliers ORDER BY name`));
    expect(rows.rows.map((r) => r.name)).toEqual(['Acme', 'Globex']);
    const cfg = await t.db.query(
      sql(`SELECT should_sync, sync_type, status FROM airmirror.tables WHERE table_id = $1`, [table.id]),
    );
    expect(cfg.rows[0]).toEqual({ should_sync: true, sync_type: 'full_refresh', status: 'Completed' });
  });

  it('table removed: marked vanished, its mirror table dropped by the rebuild, others untouched', async () => {
    const suppliersId = (await h.table('Suppliers')).tableId;
    h.emulator.control.deleteTable(DEMO_BASE_ID, 'Suppliers');
    await syncExpectingRebuild();
    const exists = await t.db.query(sql(`SELECT to_regclass($1) AS r`, [`${SCHEMA}.suppliers`]));
    expect(exists.rows[0].r).toBeNull();
    const cfg = await t.db.query<{ vanished_at: Date | null }>(
      sql(`SELECT vanished_at FROM airmirror.tables WHERE table_id = $1`, [suppliersId]),
    );
    expect(cfg.rows[0].vanished_at).toBeInstanceOf(Date);
    // a vanished table is not synced any more
    await expect(h.syncer.syncTable(SOURCE_ID, suppliersId)).resolves.toMatchObject({ status: 'Skipped' });
  });
});

describe('a rebuild that cannot finish', () => {
  it('leaves the old tables serving and marks the tables Failed; the next sync rebuilds', async () => {
    const before = await columnsOf('orders');
    const ordersId = h.tableId('Orders');
    h.emulator.control.createField(DEMO_BASE_ID, 'Orders', { name: 'Carrier', type: 'singleLineText' });
    h.emulator.control.fail({ kind: 'status', status: 503, count: 1000, match: { path: ordersId } });
    let res!: Awaited<ReturnType<Harness['syncer']['syncAll']>>[number];
    const seen = await whileReading(async () => {
      [res] = await h.syncer.syncAll();
    });
    h.emulator.control.clearFaults();
    expect(seen.errors).toEqual([]);
    expect(res.rebuilt).toBe(false);
    expect(res.error).toMatch(/^schema rebuild failed/);
    // Tables are filled side by side: the failing one's cause is reported for every table, not the
    // abort it caused in its siblings.
    expect(res.error).toMatch(/503|unavailable|server/i);
    expect(res.error).not.toMatch(/abort/i);
    expect(res.tables.length).toBeGreaterThan(1);
    for (const x of res.tables) expect(x).toMatchObject({ status: 'Failed', error: res.error });
    expect(await columnsOf('orders')).toEqual(before);
    expect(await swapExists()).toBe(false);
    const st = await tableState(t.db, ordersId);
    expect(st.status).toBe('Failed');
    expect(st.latest_error).toMatch(/^schema rebuild failed/);
    const rows = await t.db.query(sql(`SELECT count(*)::int AS n FROM ${SCHEMA}.orders`));
    expect(rows.rows[0].n).toBe(120);

    await syncExpectingRebuild();
    expect((await columnsOf('orders')).carrier).toBe('text');
    expect((await tableState(t.db, ordersId)).latest_error).toBeNull();
  });

  it('a swap schema left by a crash is dropped at syncer start', async () => {
    await t.db.query(sql(`CREATE SCHEMA ${SCHEMA}_swap`));
    await t.db.query(sql(`CREATE TABLE ${SCHEMA}_swap.orders (id text primary key)`));
    await t.db.query(
      sql(`UPDATE airmirror.tables SET status = 'Running' WHERE table_id = $1`, [h.tableId('Customers')]),
    );
    await h.syncer.start();
    expect(await swapExists()).toBe(false);
    const st = await tableState(t.db, h.tableId('Customers'));
    expect(st.status).toBe('Failed');
    expect(st.latest_error).toMatch(/interrupted/);
    const rows = await t.db.query(sql(`SELECT count(*)::int AS n FROM ${SCHEMA}.orders`));
    expect(rows.rows[0].n).toBe(120);
  });

  it('a second syncer process (e.g. sync --once next to start) leaves the live one alone', async () => {
    // `h.syncer` started above and holds the start-up lock; another syncer must not clean up
    const other = (await harness(t.db, { emulator: { records: 120 } })).syncer;
    await t.db.query(sql(`CREATE SCHEMA ${SCHEMA}_swap`));
    await t.db.query(
      sql(`UPDATE airmirror.tables SET status = 'Running' WHERE table_id = $1`, [h.tableId('Customers')]),
    );
    await other.start();
    expect(await swapExists()).toBe(true);
    expect((await tableState(t.db, h.tableId('Customers'))).status).toBe('Running');
    await other.stop();
    // once the first one stops, the next start does the cleanup
    await h.syncer.stop();
    const third = (await harness(t.db, { emulator: { records: 120 } })).syncer;
    await third.start();
    expect(await swapExists()).toBe(false);
    expect((await tableState(t.db, h.tableId('Customers'))).status).toBe('Failed');
    await third.stop();
  });
});
