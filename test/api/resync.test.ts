/**
 * `POST /api/schemas/{id}/resync` is PostHog's "wipe and re-import from scratch" (issue 16): the
 * table is built fresh from a complete listing beside the live one and swapped in — rows that do
 * not belong there are gone, values are Airtable's again — while readers keep reading the old
 * table until the swap and never see it empty; the base's other tables are not touched.
 */
import pg from 'pg';
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
import { incrementalStrategy } from '../../sync/incremental.ts';
import { createSyncer } from '../../sync/syncer.ts';
import { createTestDatabase } from '../support/db.ts';
import { emulatorFetch, SECRET_KEY } from './harness.ts';

const { db, url } = await createTestDatabase();
const RECORDS = 3000;
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

const schemas: Record<string, { id: string; table_id: string; mirror_table: string }> = {};
const table = (name: string) => quoteQualified('rs', schemas[name].mirror_table);
const oid = async (name: string) =>
  (await db.query<{ oid: string }>(sql('SELECT to_regclass($1)::oid::text AS oid', [table(name)]))).rows[0]
    .oid;
const versions = async (name: string) =>
  (
    await db.query<{ v: string }>(sql(`SELECT id || xmin::text AS v FROM ${table(name)} ORDER BY id`))
  ).rows.map((r) => r.v);
const count = async (name: string) =>
  Number((await db.query<{ n: string }>(sql(`SELECT count(*) AS n FROM ${table(name)}`))).rows[0].n);

beforeAll(async () => {
  const r = await call('POST', '/sources', {
    base_id: DEMO_BASE_ID,
    token: EMULATOR_TOKEN,
    schema_name: 'rs',
  });
  expect(r.status).toBe(201);
  for (const s of r.json.schemas) schemas[s.name] = s;
  await api.settled();
  expect(await count('Orders')).toBe(RECORDS);
});

describe('resync', () => {
  it('rebuilds the table fresh and swaps it in; readers never see it empty; other tables untouched', async () => {
    // What a wrong configuration (or a hand-made write) left in the mirror: a row Airtable does
    // not have, and a value Airtable does not hold (which a sweep trusting its hashes would keep).
    const quantity = quoteIdent(
      (
        await db.query<{ c: string }>(
          sql(
            `SELECT column_name AS c FROM airmirror.columns WHERE table_id = $1 AND field_name = 'Quantity'`,
            [schemas.Orders.table_id],
          ),
        )
      ).rows[0].c,
    );
    await db.query(
      sql(`INSERT INTO ${table('Orders')} (id, created_time) VALUES ('recNotInAirtable', now())`),
    );
    const victim = (
      await db.query<{ id: string }>(
        sql(`SELECT id FROM ${table('Orders')} WHERE id <> 'recNotInAirtable' ORDER BY id LIMIT 1`),
      )
    ).rows[0].id;
    await db.query(sql(`UPDATE ${table('Orders')} SET ${quantity} = -42 WHERE id = $1`, [victim]));
    const before = {
      orders: await oid('Orders'),
      customers: await versions('Customers'),
      products: await versions('Products'),
    };
    const runsBefore = Number(
      (
        await db.query<{ n: string }>(
          sql('SELECT count(*) AS n FROM airmirror.sync_runs WHERE table_id = $1', [
            schemas.Customers.table_id,
          ]),
        )
      ).rows[0].n,
    );

    // A reader on its own connection counts the table again and again during the resync.
    const reader = new pg.Client(url);
    await reader.connect();
    const seen: number[] = [];
    let reading = true;
    const readerLoop = (async () => {
      while (reading) {
        const r = await reader.query(`SELECT count(*)::int AS n FROM ${table('Orders')}`);
        seen.push(r.rows[0].n);
      }
    })();

    const r = await call('POST', `/schemas/${schemas.Orders.id}/resync`);
    expect(r.status).toBe(202);
    expect(r.json.resync_required).toBe(true);
    await api.settled();
    reading = false;
    await readerLoop;
    await reader.end();

    // Readers saw the old table (RECORDS + the stray row) or the new one (RECORDS): never less.
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((n) => n === RECORDS || n === RECORDS + 1)).toBe(true);
    expect(seen.at(-1)).toBe(RECORDS);

    expect(await oid('Orders')).not.toBe(before.orders); // a new table, not the old one re-listed
    expect(await count('Orders')).toBe(RECORDS);
    expect(
      (await db.query(sql(`SELECT 1 FROM ${table('Orders')} WHERE id = 'recNotInAirtable'`))).rowCount,
    ).toBe(0);
    const q = await db.query<{ q: string }>(
      sql(`SELECT ${quantity} AS q FROM ${table('Orders')} WHERE id = $1`, [victim]),
    );
    expect(Number(q.rows[0].q)).not.toBe(-42);
    // The other tables of the base: same rows, same row versions, no run.
    expect(await versions('Customers')).toEqual(before.customers);
    expect(await versions('Products')).toEqual(before.products);
    const runsAfter = Number(
      (
        await db.query<{ n: string }>(
          sql('SELECT count(*) AS n FROM airmirror.sync_runs WHERE table_id = $1', [
            schemas.Customers.table_id,
          ]),
        )
      ).rows[0].n,
    );
    expect(runsAfter).toBe(runsBefore);
    const s = (await call('GET', `/schemas/${schemas.Orders.id}`)).json;
    expect(s).toMatchObject({
      status: 'Completed',
      resync_required: false,
      rows: RECORDS,
      latest_error: null,
    });
    const run = await db.query<{ kind: string; rebuild: boolean; status: string }>(
      sql(
        'SELECT kind, rebuild, status FROM airmirror.sync_runs WHERE table_id = $1 ORDER BY id DESC LIMIT 1',
        [schemas.Orders.table_id],
      ),
    );
    expect(run.rows[0]).toEqual({ kind: 'full_refresh', rebuild: true, status: 'completed' });
  });

  it('is refused while the table is running', async () => {
    await db.query(
      sql(`UPDATE airmirror.tables SET status = 'Running' WHERE id = $1`, [schemas.Products.id]),
    );
    const r = await call('POST', `/schemas/${schemas.Products.id}/resync`);
    expect(r.status).toBe(409);
    expect(r.json.code).toBe('SCHEMA_RUNNING');
    await db.query(
      sql(`UPDATE airmirror.tables SET status = 'Completed' WHERE id = $1`, [schemas.Products.id]),
    );
  });
});
