/**
 * The API, the scheduler, the syncer and the incremental/append strategies together, against the
 * emulator (in-process) and a real Postgres: switching sync types, actions, cancel mid-sweep.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createApi } from '../../src/api/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { quoteIdent, quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import {
  runWithSyncer,
  Scheduler,
  type RunTableOptions,
  type ScheduledTable,
} from '../../src/scheduler/index.ts';
import { appendStrategy } from '../../sync/append.ts';
import { incrementalStrategy } from '../../sync/incremental.ts';
import type { SyncClient } from '../../sync/strategy.ts';
import { createSyncer } from '../../sync/syncer.ts';
import { tokenResolver } from '../../src/bookkeeping/index.ts';
import { verifySource } from '../../sync/verify.ts';
import { createTestDatabase } from '../support/db.ts';
import { emulatorFetch, SECRET_KEY } from './harness.ts';
import { createFakeClock } from '../support/fake-clock.ts';
import { waitUntil } from '../support/wait.ts';

const { db } = await createTestDatabase();
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

// One virtual clock for the emulator (lastModifiedTime), the client, the budget and the syncer.
const clock = createFakeClock(Date.UTC(2026, 2, 1, 9, 0, 0), { autoAdvance: true });
const { now, sleep } = clock;
const emulator = createEmulator({ now, records: 250 });
const fetchFn = emulatorFetch(emulator);
const budget = createRateBudget({ perSecond: 1000, now, sleep });
const clientOptions = { now, sleep, random: () => 0.5 };
const makeClient = (onRequest?: () => void) =>
  createAirtableClient({
    apiUrl: 'https://api.airtable.com',
    token: EMULATOR_TOKEN,
    fetch: fetchFn,
    budget,
    onRequest,
    ...clientOptions,
  });

/** Lets a test act between "page fetched" and "page applied" of a listing. */
let onPage: ((table: string, page: number) => Promise<void>) | undefined;
const withPageHook = (c: SyncClient): SyncClient => ({
  getBaseSchema: (...a) => c.getBaseSchema(...a),
  getRecordsByIds: (...a) => c.getRecordsByIds(...a),
  listAllRecords(baseId, table, params, o) {
    const inner = c.listAllRecords(baseId, table, params, o);
    return (async function* () {
      let n = 0;
      for await (const page of inner) {
        if (onPage) await onPage(table, ++n);
        yield page;
      }
    })();
  },
});

const secrets = createSecretBox(SECRET_KEY);
const syncer = createSyncer({
  db,
  fetch: fetchFn,
  budget,
  apiUrl: 'https://api.airtable.com',
  tokenFor: tokenResolver({ tokens: new Map(), secretKey: SECRET_KEY }),
  hashCacheSize: 100_000,
  log: pino({ level: 'silent' }),
  now,
  clientFor: (_s, onRequest) => withPageHook(makeClient(() => onRequest({} as never))),
  strategies: [incrementalStrategy, appendStrategy],
});
let runSignal: AbortSignal | undefined;
const viaSyncer = runWithSyncer(syncer);
const scheduler = new Scheduler({
  db,
  clock: { now, sleep },
  random: () => 0,
  run: (row: ScheduledTable, o: RunTableOptions) => {
    runSignal = o.signal;
    return viaSyncer(row, o);
  },
});
const api = createApi({
  db,
  secrets,
  syncer,
  runner: scheduler,
  airtable: (_s, token) =>
    createAirtableClient({
      apiUrl: 'https://api.airtable.com',
      token: token!,
      fetch: fetchFn,
      budget,
      ...clientOptions,
    }),
  now,
});
async function call(method: string, path: string, body?: unknown) {
  const res = await api.request(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, json: (text ? JSON.parse(text) : undefined) as any };
}

let sourceId: string;
const schemaIds: Record<string, string> = {};
const tableIds: Record<string, string> = {};
const mirror: Record<string, string> = {};

async function reload(name: string) {
  const r = await call('POST', `/schemas/${schemaIds[name]}/reload`);
  expect(r.status).toBe(202);
  await scheduler.idle();
  const s = (await call('GET', `/schemas/${schemaIds[name]}`)).json;
  expect(s.latest_error).toBeNull();
  expect(s.status).toBe('Completed');
  return s;
}
/** Records that differ between Airtable and the mirror (verify), for some tables or all. */
const drift = async (...names: string[]) =>
  (
    await verifySource(
      { db, client: makeClient() },
      sourceId,
      names.length ? { tableIds: names.map((n) => tableIds[n]) } : {},
    )
  ).drift;
/** The mirror column of an Airtable field (names like "Order" are reserved words and get a suffix). */
const column = async (table: string, field: string) =>
  quoteIdent(
    (
      await db.query(
        sql('SELECT column_name FROM airmirror.columns WHERE table_id = $1 AND field_name = $2', [
          tableIds[table],
          field,
        ]),
      )
    ).rows[0].column_name,
  );
const count = async (name: string) =>
  Number((await db.query(sql(`SELECT count(*) AS n FROM ${mirror[name]}`))).rows[0].n);
const lastRun = async (name: string) =>
  (
    await db.query(
      sql(`SELECT * FROM airmirror.sync_runs WHERE table_id = $1 ORDER BY id DESC LIMIT 1`, [tableIds[name]]),
    )
  ).rows[0];
const ordersRecords = async () => {
  const res = await emulator.app.fetch(
    new Request(`https://api.airtable.com/v0/${DEMO_BASE_ID}/${tableIds.Orders}?pageSize=3`, {
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}` },
    }),
  );
  return (await res.json()) as { records: { id: string; fields: Record<string, unknown> }[] };
};

beforeAll(async () => {
  const r = await call('POST', '/sources', {
    base_id: DEMO_BASE_ID,
    token: EMULATOR_TOKEN,
    schema_name: 'shop',
  });
  expect(r.status).toBe(201);
  sourceId = r.json.id;
  for (const s of r.json.schemas) {
    schemaIds[s.name] = s.id;
    tableIds[s.name] = s.table_id;
    mirror[s.name] = quoteQualified('shop', s.mirror_table);
  }
  expect(Object.keys(schemaIds).sort()).toEqual(['Customers', 'Orders', 'Products']);
  await api.settled(); // the source's first build runs in the background
  expect(await count('Orders')).toBe(250); // the first schema read built and filled the mirror
});

describe('full_refresh → incremental', () => {
  it('reconciles first, then lists only what changed since the high-water mark', async () => {
    const patched = await call('PATCH', `/schemas/${schemaIds.Orders}`, {
      sync_type: 'incremental',
      incremental_field: 'Status Changed',
    });
    expect(patched.status).toBe(200);
    expect(patched.json.resync_required).toBe(true);

    clock.jump(MIN);
    const first = await reload('Orders');
    expect(first.high_water_mark).not.toBeNull();
    expect(first.resync_required).toBe(false);
    expect((await lastRun('Orders')).records_seen).toBe(250); // the reconciliation listed everything
    expect(await drift()).toBe(0);

    // Edits in Airtable (as the UI makes them, bumping lastModifiedTime), a new record, a delete.
    clock.jump(10 * MIN);
    const [a, b, c] = (await ordersRecords()).records;
    emulator.control.updateRecords(DEMO_BASE_ID, tableIds.Orders, [
      // "Status Changed" watches Status and Quantity (the demo seed): this edit moves it.
      { id: a.id, fields: { Quantity: 97, Notes: 'edited once' } },
    ]);
    const created = emulator.control.createRecords(DEMO_BASE_ID, tableIds.Orders, [
      { fields: { Order: 'NEW-1' } },
    ]);
    emulator.control.deleteRecords(DEMO_BASE_ID, tableIds.Orders, [b.id]);
    clock.jump(MIN);

    const second = await reload('Orders');
    const run = await lastRun('Orders');
    expect(run.kind).toBe('incremental');
    expect(run.records_seen).toBeLessThan(10); // only the changed records (and the overlap window)
    expect(await count('Orders')).toBe(251); // the delete is not visible to an incremental listing…
    const note = await db.query(sql(`SELECT notes FROM ${mirror.Orders} WHERE id = $1`, [a.id]));
    expect(note.rows[0].notes).toBe('edited once');
    const orderCol = await column('Orders', 'Order');
    const newRow = await db.query(
      sql(`SELECT ${orderCol} AS o FROM ${mirror.Orders} WHERE id = $1`, [created[0].id]),
    );
    expect(newRow.rows[0].o).toBe('NEW-1');
    expect(new Date(second.high_water_mark).getTime()).toBeGreaterThan(
      new Date(first.high_water_mark).getTime(),
    );
    const report = await verifySource({ db, client: makeClient() }, sourceId);
    expect(report.tables.find((x) => x.tableId === tableIds.Orders)).toMatchObject({
      extra: 1,
      missing: 0,
      different: 0,
    });

    // …until the reconciliation, every full_refresh_interval (24h by default).
    clock.jump(DAY);
    await reload('Orders');
    expect((await lastRun('Orders')).records_seen).toBe(250);
    expect(await count('Orders')).toBe(250);
    expect(await drift()).toBe(0);
    void c;
  });

  it('re-runs with nothing changed write nothing', async () => {
    clock.jump(MIN);
    await reload('Orders');
    const run = await lastRun('Orders');
    expect(run.records_inserted + run.records_updated + run.records_deleted).toBe(0);
  });
});

describe('incremental → append', () => {
  it('starts a history with one version per record, then one more per change', async () => {
    const patched = await call('PATCH', `/schemas/${schemaIds.Orders}`, { sync_type: 'append' });
    expect(patched.json).toMatchObject({ sync_type: 'append', resync_required: true });
    clock.jump(MIN);
    const s = await reload('Orders');
    expect(s.history_table).toBe('orders_history');
    const hist = quoteQualified('shop', 'orders_history');
    const versions = async () => Number((await db.query(sql(`SELECT count(*) AS n FROM ${hist}`))).rows[0].n);
    expect(await versions()).toBe(250);
    expect(await drift('Orders')).toBe(0);

    // Nothing changed: no new versions.
    clock.jump(MIN);
    await reload('Orders');
    expect(await versions()).toBe(250);

    clock.jump(MIN);
    const [a] = (await ordersRecords()).records;
    emulator.control.updateRecords(DEMO_BASE_ID, tableIds.Orders, [
      { id: a.id, fields: { Quantity: 98, Notes: 'second version' } },
    ]);
    clock.jump(MIN);
    await reload('Orders');
    expect(await versions()).toBe(251);
    const mine = await db.query(
      sql(`SELECT notes, _deleted FROM ${hist} WHERE id = $1 ORDER BY _observed_at`, [a.id]),
    );
    expect(mine.rows.map((r) => r.notes)).toEqual(['edited once', 'second version']);
    expect(await drift('Orders')).toBe(0);
  });
});

describe('full_refresh → append (no incremental field)', () => {
  it('records versions from the sweep, and a deletion marker when a record goes', async () => {
    const patched = await call('PATCH', `/schemas/${schemaIds.Customers}`, { sync_type: 'append' });
    expect(patched.json.resync_required).toBe(true);
    clock.jump(MIN);
    await reload('Customers');
    const hist = quoteQualified('shop', 'customers_history');
    const n = await count('Customers');
    expect(Number((await db.query(sql(`SELECT count(*) AS n FROM ${hist}`))).rows[0].n)).toBe(n);
    const victim = (await db.query(sql(`SELECT id FROM ${mirror.Customers} ORDER BY id LIMIT 1`))).rows[0].id;
    emulator.control.deleteRecords(DEMO_BASE_ID, tableIds.Customers, [victim]);
    clock.jump(MIN);
    await reload('Customers');
    const rows = await db.query(
      sql(`SELECT _deleted FROM ${hist} WHERE id = $1 ORDER BY _observed_at`, [victim]),
    );
    expect(rows.rows.map((r) => r._deleted)).toEqual([false, true]);
    expect(await drift('Customers')).toBe(0);
  });
});

describe('append history shape', () => {
  const hist = quoteQualified('shop', 'customers_history');
  const histColumns = async () =>
    (
      await db.query(
        sql(
          `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
          [hist],
        ),
      )
    ).rows.map((r) => r.attname as string);

  it('follows a new field with a new column, without new versions', async () => {
    const before = Number((await db.query(sql(`SELECT count(*) AS n FROM ${hist}`))).rows[0].n);
    emulator.control.createField(DEMO_BASE_ID, tableIds.Customers, {
      name: 'Nickname',
      type: 'singleLineText',
    } as never);
    clock.jump(MIN);
    await reload('Customers'); // the schema change rebuilds the mirror
    clock.jump(MIN);
    await reload('Customers'); // the append run extends the history
    expect(await histColumns()).toContain('nickname');
    expect(Number((await db.query(sql(`SELECT count(*) AS n FROM ${hist}`))).rows[0].n)).toBe(before);
  });

  it('refuses to mix a retyped column into the old history; a resync starts a new one', async () => {
    const notes = fieldIdOf('Customers', 'Notes');
    emulator.control.changeFieldType(DEMO_BASE_ID, tableIds.Customers, await notes, 'number', {
      precision: 0,
    });
    clock.jump(MIN);
    await reload('Customers');
    clock.jump(MIN);
    expect((await call('POST', `/schemas/${schemaIds.Customers}/reload`)).status).toBe(202);
    await scheduler.idle();
    const failed = (await call('GET', `/schemas/${schemaIds.Customers}`)).json;
    expect(failed.status).toBe('Failed');
    expect(failed.latest_error).toMatch(/history table .*notes.*resync/);
    const resync = await call('POST', `/schemas/${schemaIds.Customers}/resync`);
    expect(resync.status).toBe(202);
    await api.settled(); // built fresh and swapped in, then append's own full run
    const ok = (await call('GET', `/schemas/${schemaIds.Customers}`)).json;
    expect(ok).toMatchObject({ status: 'Completed', latest_error: null, resync_required: false });
    const types = await db.query(
      sql(
        `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'notes'`,
        [hist],
      ),
    );
    expect(types.rows[0].t).toBe('numeric');
    const versions = Number((await db.query(sql(`SELECT count(*) AS n FROM ${hist}`))).rows[0].n);
    expect(versions).toBe(await count('Customers'));
  });
});

/** An Airtable field id by table and field name, from the live schema. */
async function fieldIdOf(table: string, name: string): Promise<string> {
  const schema = await makeClient().getBaseSchema(DEMO_BASE_ID);
  return schema.tables.find((x) => x.id === tableIds[table])!.fields.find((f) => f.name === name)!.id;
}

describe('actions', () => {
  it('cancel mid-sweep stops cleanly: nothing deleted, the mirror stays consistent', async () => {
    // Orders back to full_refresh (250 records: 3 pages). A record deleted in Airtable and one
    // edited; cancel while page 2 is in hand.
    expect((await call('PATCH', `/schemas/${schemaIds.Orders}`, { sync_type: 'full_refresh' })).status).toBe(
      200,
    );
    clock.jump(MIN);
    await reload('Orders');
    const before = await count('Orders');
    const [victim, edited] = (await ordersRecords()).records;
    emulator.control.deleteRecords(DEMO_BASE_ID, tableIds.Orders, [victim.id]);
    emulator.control.updateRecords(DEMO_BASE_ID, tableIds.Orders, [
      { id: edited.id, fields: { Quantity: 42 } },
    ]);
    let cancel: Promise<{ status: number; json: { cancelled: boolean; status: string } }> | undefined;
    onPage = async (table, page) => {
      if (table !== tableIds.Orders || page !== 2) return;
      cancel = call('POST', `/schemas/${schemaIds.Orders}/cancel`);
      await waitUntil(() => runSignal?.aborted === true, { what: 'the run to be aborted' });
    };
    clock.jump(MIN);
    expect((await call('POST', `/schemas/${schemaIds.Orders}/reload`)).status).toBe(202);
    await waitUntil(() => cancel !== undefined, { what: 'cancel to be sent' });
    const r = await cancel!;
    onPage = undefined;
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ cancelled: true, status: 'Cancelled' });
    const run = await lastRun('Orders');
    expect(run.status).toBe('cancelled');
    expect(run.records_seen).toBeLessThan(250); // it stopped before the listing ended
    // A listing that did not complete deletes nothing.
    expect(await count('Orders')).toBe(before);
    const gone = await db.query(sql(`SELECT 1 FROM ${mirror.Orders} WHERE id = $1`, [victim.id]));
    expect(gone.rowCount).toBe(1);
    expect((await call('POST', `/schemas/${schemaIds.Orders}/cancel`)).status).toBe(409);
    clock.jump(MIN);
    await reload('Orders');
    expect(await count('Orders')).toBe(before - 1);
    const quantity = await column('Orders', 'Quantity');
    const q = await db.query(sql(`SELECT ${quantity} AS q FROM ${mirror.Orders} WHERE id = $1`, [edited.id]));
    expect(Number(q.rows[0].q)).toBe(42);
    expect(await drift('Orders')).toBe(0);
  });

  it('reload while running is a 409; resync re-imports', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    onPage = async (table) => {
      if (table === tableIds.Products) await blocked;
    };
    clock.jump(MIN);
    await call('POST', `/schemas/${schemaIds.Products}/reload`);
    const again = await call('POST', `/schemas/${schemaIds.Products}/reload`);
    expect(again.status).toBe(409);
    const patch = await call('PATCH', `/schemas/${schemaIds.Products}`, { sync_frequency: '5min' });
    expect(patch.status).toBe(409);
    expect((await call('POST', `/schemas/${schemaIds.Products}/delete-data`)).status).toBe(409);
    release();
    await scheduler.idle();
    onPage = undefined;
    const resync = await call('POST', `/schemas/${schemaIds.Products}/resync`);
    expect(resync.status).toBe(202);
    await api.settled();
    const s = (await call('GET', `/schemas/${schemaIds.Products}`)).json;
    expect(s).toMatchObject({ status: 'Completed', resync_required: false });
    expect(await drift('Products')).toBe(0);
  });

  it('delete-data empties the mirror table and the next run re-imports it', async () => {
    const r = await call('POST', `/schemas/${schemaIds.Orders}/delete-data`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ rows: 0, resync_required: true, last_synced_at: null });
    expect(await count('Orders')).toBe(0);
    const hist = quoteQualified('shop', 'orders_history');
    expect(Number((await db.query(sql(`SELECT count(*) AS n FROM ${hist}`))).rows[0].n)).toBe(0);
    clock.jump(MIN);
    await reload('Orders');
    expect(await count('Orders')).toBe(249);
    expect(await drift('Orders')).toBe(0);
  });

  it('status lists every table with its sync type', async () => {
    const r = await call('GET', '/status');
    const byName = Object.fromEntries(r.json.tables.map((x: { table: string }) => [x.table, x]));
    expect(byName.Orders).toMatchObject({
      sync_type: 'full_refresh',
      status: 'Completed',
      rows: 249,
      latest_error: null,
    });
    expect(byName.Customers.sync_type).toBe('append');
    expect(byName.Products.lag_seconds).toBeGreaterThanOrEqual(0);
  });
});

describe('deleting the source', () => {
  it('stops its running sync first, then drops its mirror tables when asked', async () => {
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    onPage = async (table) => {
      if (table === tableIds.Products) await blocked;
    };
    clock.jump(MIN);
    expect((await call('POST', `/schemas/${schemaIds.Products}/reload`)).status).toBe(202);
    await waitUntil(() => scheduler.isRunning(schemaIds.Products), { what: 'the run to start' });
    const del = call('DELETE', `/sources/${sourceId}?drop_data=true`);
    await waitUntil(() => runSignal?.aborted === true, { what: 'the run to be aborted' });
    release();
    expect((await del).status).toBe(204);
    onPage = undefined;
    expect(scheduler.isRunning(schemaIds.Products)).toBe(false);
    for (const name of ['orders', 'customers', 'products', 'orders_history', 'customers_history']) {
      const r = await db.query(sql('SELECT to_regclass($1) AS r', [`shop.${name}`]));
      expect(r.rows[0].r).toBeNull();
    }
    expect((await call('GET', '/schemas')).json.count).toBe(0);
  });
});
