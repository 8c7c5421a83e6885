/**
 * PostHog's incremental field types (issue 16): `incremental_field_type` takes PostHog's words
 * (datetime, timestamp, date, integer, numeric) as well as Airtable's, checked against the field;
 * dateTime and autoNumber fields are candidates; an autoNumber is an integer cursor the syncer
 * lists by (`{fld} > mark − overlap`), with its own mark.
 */
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createApi } from '../../src/api/index.ts';
import { tokenResolver } from '../../src/bookkeeping/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { quoteIdent, quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { appendStrategy } from '../../sync/append.ts';
import { INTEGER_OVERLAP, incrementalStrategy } from '../../sync/incremental.ts';
import { createSyncer } from '../../sync/syncer.ts';
import { createTestDatabase } from '../support/db.ts';
import { emulatorFetch, SECRET_KEY } from './harness.ts';

const { db } = await createTestDatabase();
const RECORDS = 250;
const emulator = createEmulator({ records: RECORDS });
const fetchFn = emulatorFetch(emulator);
const budget = createRateBudget({ perSecond: 1000 });
const syncer = createSyncer({
  db,
  fetch: fetchFn,
  budget,
  apiUrl: 'https://api.airtable.com',
  tokenFor: tokenResolver({ tokens: new Map(), secretKey: SECRET_KEY }),
  hashCacheSize: 100_000,
  log: pino({ level: 'silent' }),
  strategies: [incrementalStrategy, appendStrategy],
});
const api = createApi({
  db,
  secrets: createSecretBox(SECRET_KEY),
  syncer,
  airtable: (_s, token) =>
    createAirtableClient({ apiUrl: 'https://api.airtable.com', token: token!, fetch: fetchFn, budget }),
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
let orders: { id: string; table_id: string; mirror_table: string };
const field: Record<string, string> = {};

beforeAll(async () => {
  const r = await call('POST', '/sources', {
    base_id: DEMO_BASE_ID,
    token: EMULATOR_TOKEN,
    schema_name: 'cur',
  });
  expect(r.status).toBe(201);
  sourceId = r.json.id;
  orders = r.json.schemas.find((s: { name: string }) => s.name === 'Orders');
  await api.settled();
  const candidates = await call('POST', `/schemas/${orders.id}/incremental-fields`);
  for (const c of candidates.json.incremental_fields) field[c.label] = c.field;
});

const patch = (body: unknown) => call('PATCH', `/schemas/${orders.id}`, body);

describe('incremental_field_type in PostHog’s words', () => {
  it.each([
    ['Status Changed', 'datetime', 'datetime', 'lastModifiedTime'],
    ['Status Changed', 'timestamp', 'datetime', 'lastModifiedTime'],
    ['Status Changed', 'lastModifiedTime', 'datetime', 'lastModifiedTime'],
    ['Created', 'datetime', 'datetime', 'createdTime'],
    ['Ordered At', 'datetime', 'datetime', 'dateTime'],
    ['Order No', 'integer', 'integer', 'autoNumber'],
    ['Order No', 'numeric', 'integer', 'autoNumber'],
  ])('%s with %s is taken, shown as %s (Airtable %s)', async (name, asked, shown, airtable) => {
    const r = await patch({
      sync_type: 'incremental',
      incremental_field: name,
      incremental_field_type: asked,
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      incremental_field: field[name],
      incremental_field_type: shown,
      incremental_field_airtable_type: airtable,
    });
  });

  it.each([
    ['Status Changed', 'integer'],
    ['Status Changed', 'date'],
    ['Order No', 'datetime'],
    ['Order No', 'createdTime'],
  ])('%s with %s is a 400 naming incremental_field_type', async (name, asked) => {
    const r = await patch({
      sync_type: 'incremental',
      incremental_field: name,
      incremental_field_type: asked,
    });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('incremental_field_type');
  });

  it('still refuses a field that makes no cursor, naming the candidates', async () => {
    const r = await patch({ sync_type: 'incremental', incremental_field: 'Quantity' });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('incremental_field');
    expect(r.json.detail).toMatch(/Order No.*Ordered At|Ordered At.*Order No/);
  });
});

describe('an autoNumber as an integer cursor', () => {
  const mirror = () => quoteQualified('cur', orders.mirror_table);
  const runOrders = () => syncer.syncTable(sourceId, orders.table_id);
  const columnOf = async (name: string) =>
    quoteIdent(
      (
        await db.query<{ column_name: string }>(
          sql('SELECT column_name FROM airmirror.columns WHERE table_id = $1 AND field_name = $2', [
            orders.table_id,
            name,
          ]),
        )
      ).rows[0].column_name,
    );

  it('reconciles first and keeps the largest number as its mark', async () => {
    const r = await patch({
      sync_type: 'incremental',
      incremental_field: 'Order No',
      incremental_field_type: 'integer',
    });
    expect(r.status).toBe(200);
    const first = await runOrders();
    expect(first.status).toBe('Completed');
    expect(first.counters.seen).toBe(RECORDS); // the whole table, once
    const s = (await call('GET', `/schemas/${orders.id}`)).json;
    expect(s).toMatchObject({ high_water_mark: String(RECORDS), status: 'Completed' });
  });

  it('then lists only the numbers above its mark (less the overlap): new records come, old edits wait', async () => {
    const [a, b] = emulator.control.createRecords(DEMO_BASE_ID, orders.table_id, [
      { fields: { Quantity: 7 } },
      { fields: { Quantity: 8 } },
    ]);
    const oldest = (
      await db.query<{ id: string }>(
        sql(`SELECT id FROM ${mirror()} ORDER BY ${await columnOf('Order No')} LIMIT 1`),
      )
    ).rows[0].id;
    emulator.control.updateRecords(DEMO_BASE_ID, orders.table_id, [
      { id: oldest, fields: { Quantity: 999 } },
    ]);

    const run = await runOrders();
    expect(run.status).toBe('Completed');
    // Numbers RECORDS − overlap + 1 … RECORDS + 2: the overlap and the two new ones.
    expect(run.counters.seen).toBe(INTEGER_OVERLAP + 2);
    const numbers = await db.query<{ id: string; n: number }>(
      sql(`SELECT id, ${await columnOf('Order No')}::int AS n FROM ${mirror()} WHERE id = ANY($1)`, [
        [a.id, b.id],
      ]),
    );
    expect(numbers.rows.map((x) => x.n).sort()).toEqual([RECORDS + 1, RECORDS + 2]);
    // An edit of an old record is not in an integer listing; the reconciliation will bring it.
    const quantity = await columnOf('Quantity');
    const old = await db.query<{ q: string }>(
      sql(`SELECT ${quantity} AS q FROM ${mirror()} WHERE id = $1`, [oldest]),
    );
    expect(Number(old.rows[0].q)).not.toBe(999);
    expect((await call('GET', `/schemas/${orders.id}`)).json.high_water_mark).toBe(String(RECORDS + 2));

    const nothing = await runOrders();
    expect(nothing.counters.seen).toBe(INTEGER_OVERLAP);
    expect(nothing.counters.inserted + nothing.counters.updated).toBe(0);
  });

  it('a resync starts the mark over: a reconciliation brings the edit too', async () => {
    const r = await call('POST', `/schemas/${orders.id}/resync`);
    expect(r.status).toBe(202);
    await api.settled();
    const s = (await call('GET', `/schemas/${orders.id}`)).json;
    expect(s).toMatchObject({
      status: 'Completed',
      high_water_mark: String(RECORDS + 2),
      resync_required: false,
    });
    const quantity = await columnOf('Quantity');
    const edited = await db.query(sql(`SELECT 1 FROM ${mirror()} WHERE ${quantity} = 999`));
    expect(edited.rowCount).toBe(1);
  });
});
