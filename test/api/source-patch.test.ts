/**
 * Day two of a source (issue 16): its Airtable token is rotated with `PATCH /api/sources/{id}` —
 * checked against the base, stored encrypted, used from the next request on — without touching
 * the mirror (no run, no rebuild, no row written); and a source deleted without its data and
 * created again adopts the tables airmirror built before instead of failing at the promote,
 * while a table that is not airmirror's is still refused.
 */
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAirtableClient, createRateBudget } from '../../src/airtable/index.ts';
import { createApi } from '../../src/api/index.ts';
import { ensureSourcesFromConfig, tokenResolver } from '../../src/bookkeeping/index.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../../emulator/index.ts';
import { createSyncer } from '../../sync/syncer.ts';
import { createTestDatabase } from '../support/db.ts';
import { memoryLogger, SECRET_KEY } from './harness.ts';

const OLD_TOKEN = EMULATOR_TOKEN;
const NEW_TOKEN = 'patRotatedToken.0123456789abcdef';
const { db } = await createTestDatabase();
// The emulator accepts both tokens (Airtable does, until the old one is revoked).
const emulator = createEmulator({ tokens: [OLD_TOKEN, NEW_TOKEN], records: 60 });
/** The Authorization header of every request that reached "Airtable", in order. */
const wire: string[] = [];
const fetchFn: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  wire.push(req.headers.get('authorization') ?? '');
  return emulator.app.fetch(req);
};
const budget = createRateBudget({ perSecond: 1000 });
const secrets = createSecretBox(SECRET_KEY);
const syncer = createSyncer({
  db,
  fetch: fetchFn,
  budget,
  apiUrl: 'https://api.airtable.com',
  tokenFor: tokenResolver({ tokens: new Map(), secretKey: SECRET_KEY }),
  hashCacheSize: 10_000,
  log: pino({ level: 'silent' }),
});
const logs = memoryLogger();
const api = createApi({
  db,
  secrets,
  syncer,
  airtable: (_s, token) =>
    createAirtableClient({
      apiUrl: 'https://api.airtable.com',
      token: token!,
      fetch: fetchFn,
      budget,
      maxAttempts: 1,
    }),
  log: logs.log,
});

async function call(method: string, path: string, body?: unknown) {
  const res = await api.request(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, text, json: (text ? JSON.parse(text) : undefined) as any };
}

const SCHEMA = 'rot';
const MIRROR_TABLES = ['customers', 'orders', 'products'];

/** Everything that would move if the mirror were touched: every row's version, runs, events. */
async function mirrorState() {
  const rows: Record<string, string[]> = {};
  for (const t of MIRROR_TABLES) {
    const r = await db.query<{ id: string; v: string }>(
      sql(`SELECT id, xmin::text || ':' || ctid::text AS v FROM ${quoteQualified(SCHEMA, t)} ORDER BY id`),
    );
    rows[t] = r.rows.map((x) => `${x.id}@${x.v}`);
  }
  const one = async (text: string) => (await db.query<{ v: string }>(sql(text))).rows[0]?.v;
  return {
    rows,
    runs: await one('SELECT count(*)::text AS v FROM airmirror.sync_runs'),
    outbox: await one('SELECT coalesce(max(id), 0)::text AS v FROM airmirror.outbox'),
    hash: await one(`SELECT schema_hash AS v FROM airmirror.sources WHERE schema_name = '${SCHEMA}'`),
    columns: await one('SELECT count(*)::text AS v FROM airmirror.columns'),
  };
}

let sourceId: string;
/** Schema reads while the source was created and first built. */
let schemaReadsAtCreate = 0;

beforeAll(async () => {
  const r = await call('POST', '/sources', { base_id: DEMO_BASE_ID, token: OLD_TOKEN, schema_name: SCHEMA });
  expect(r.status).toBe(201);
  sourceId = r.json.id;
  await api.settled(); // the first build, in the background
  schemaReadsAtCreate = emulator.control.calls({ path: `/meta/bases/${DEMO_BASE_ID}/tables` }).length;
  const built = await call('GET', `/sources/${sourceId}`);
  expect(built.json.schemas.map((s: { status: string }) => s.status)).toEqual([
    'Completed',
    'Completed',
    'Completed',
  ]);
});

it('builds a new source from the schema its create just read: one schema read for both', () => {
  // The create checks token and base with a schema read; the first build, a moment later, takes
  // that schema (sync/primed-schemas.ts) instead of spending a second of the base's 5 requests/s.
  expect(schemaReadsAtCreate).toBe(1);
});

describe('PATCH /sources/{id}: rotating the token', () => {
  it('checks the new token against the base, stores it encrypted, and touches nothing of the mirror', async () => {
    const before = await mirrorState();
    expect(before.rows.orders).toHaveLength(60);
    wire.length = 0;
    const r = await call('PATCH', `/sources/${sourceId}`, {
      token: NEW_TOKEN,
      name: 'Shop (rotated)',
      description: 'token rotated on day two',
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      id: sourceId,
      name: 'Shop (rotated)',
      description: 'token rotated on day two',
      has_token: true,
      base_id: DEMO_BASE_ID,
      schema_name: SCHEMA,
    });
    expect(r.text).not.toContain(NEW_TOKEN);
    // Validated with the new token, before anything was stored: one schema read.
    expect(wire).toEqual([`Bearer ${NEW_TOKEN}`]);
    // The mirror: not a row rewritten, no run, no event, no rebuild, the same mapping.
    expect(await mirrorState()).toEqual(before);
    // Stored sealed; the plain token is in no bookkeeping row and no log line.
    const stored = await db.query<{ token_encrypted: string; all: string }>(
      sql('SELECT token_encrypted, row_to_json(s)::text AS all FROM airmirror.sources s WHERE id = $1', [
        sourceId,
      ]),
    );
    expect(await secrets.decrypt(stored.rows[0].token_encrypted)).toBe(NEW_TOKEN);
    expect(stored.rows[0].all).not.toContain(NEW_TOKEN);
    expect(logs.text()).toContain('source updated');
    expect(logs.text()).not.toContain(NEW_TOKEN);
    expect(logs.text()).not.toContain(OLD_TOKEN);
  });

  it('takes effect at the next request: the next sync uses only the new token, in place', async () => {
    const before = await mirrorState();
    wire.length = 0;
    const result = await syncer.syncSource(sourceId);
    expect(result.rebuilt).toBe(false);
    expect(result.tables.map((t) => t.status)).toEqual(['Completed', 'Completed', 'Completed']);
    expect(wire.length).toBeGreaterThan(3);
    expect(new Set(wire)).toEqual(new Set([`Bearer ${NEW_TOKEN}`]));
    // Nothing changed in Airtable: the sweep wrote nothing either.
    expect((await mirrorState()).rows).toEqual(before.rows);
    // The API's own reads of the base too.
    wire.length = 0;
    const schemas = (await call('GET', `/schemas?source_id=${sourceId}`)).json.results;
    expect((await call('POST', `/schemas/${schemas[0].id}/incremental-fields`)).status).toBe(200);
    expect(wire).toEqual([`Bearer ${NEW_TOKEN}`]);
  });

  it('refuses a token Airtable refuses, and keeps the one that works', async () => {
    const before = await mirrorState();
    const r = await call('PATCH', `/sources/${sourceId}`, { token: 'patNotAValidToken', name: 'never' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'INVALID_TOKEN', attr: 'token' });
    expect(r.text).not.toContain('patNotAValidToken');
    const row = await db.query<{ token_encrypted: string; name: string }>(
      sql('SELECT token_encrypted, name FROM airmirror.sources WHERE id = $1', [sourceId]),
    );
    expect(await secrets.decrypt(row.rows[0].token_encrypted)).toBe(NEW_TOKEN);
    expect(row.rows[0].name).toBe('Shop (rotated)');
    expect(await mirrorState()).toEqual(before);
  });

  it.each([
    [{ base_id: 'appAAAAAAAAAAAAAA' }, 'base_id', 'IMMUTABLE_FIELD'],
    [{ schema_name: 'elsewhere' }, 'schema_name', 'IMMUTABLE_FIELD'],
    [{ colour: 'red' }, 'colour', 'UNKNOWN_FIELD'],
    [{ token: '' }, 'token', undefined],
    [{ name: 42 }, 'name', undefined],
  ])('%j → 400 naming %s', async (body, attr, code) => {
    const r = await call('PATCH', `/sources/${sourceId}`, body);
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe(attr);
    if (code) expect(r.json.code).toBe(code);
  });

  it('answers 404 for an unknown source, and changes only what is sent', async () => {
    expect((await call('PATCH', '/sources/nope', { name: 'x' })).status).toBe(404);
    const r = await call('PATCH', `/sources/${sourceId}`, { description: null });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'Shop (rotated)', description: null });
  });

  it("refuses the token of a source configured by AIRTABLE_BASES (it is AIRTABLE_TOKEN's), not its name", async () => {
    const { sources } = await ensureSourcesFromConfig(db, {
      bases: [{ baseId: 'appENVCONFIGURED0', schema: 'from_env' }],
      airtableToken: 'patFromTheEnvironment',
    });
    const r = await call('PATCH', `/sources/${sources[0].id}`, { token: NEW_TOKEN });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ attr: 'token', code: 'TOKEN_FROM_ENVIRONMENT' });
    const renamed = await call('PATCH', `/sources/${sources[0].id}`, { name: 'env base' });
    expect(renamed.json).toMatchObject({ name: 'env base', has_token: false });
    expect((await call('DELETE', `/sources/${sources[0].id}`)).status).toBe(204);
  });
});

describe('creating a source again over its own tables', () => {
  const comment = async (table: string) =>
    (
      await db.query<{ c: string | null }>(
        sql(`SELECT obj_description(to_regclass($1), 'pg_class') AS c`, [quoteQualified(SCHEMA, table)]),
      )
    ).rows[0].c;

  it('adopts the tables airmirror built before (their comments name the same Airtable tables)', async () => {
    expect((await call('DELETE', `/sources/${sourceId}`)).status).toBe(204); // data kept
    expect((await mirrorState()).rows.orders).toHaveLength(60);
    const created = await call('POST', '/sources', {
      base_id: DEMO_BASE_ID,
      token: NEW_TOKEN,
      schema_name: SCHEMA,
    });
    expect(created.status).toBe(201);
    sourceId = created.json.id;
    await api.settled();
    const schemas = (await call('GET', `/schemas?source_id=${sourceId}`)).json.results;
    expect(
      schemas.map((s: { status: string; latest_error: string | null }) => [s.status, s.latest_error]),
    ).toEqual([
      ['Completed', null],
      ['Completed', null],
      ['Completed', null],
    ]);
    const after = await mirrorState();
    expect(after.rows.orders).toHaveLength(60);
    expect(await comment('orders')).toMatch(/^Airtable table "Orders" \(tbl\w+\)$/);
  });

  it('still refuses a table that is not airmirror’s, and leaves it as it was', async () => {
    expect((await call('DELETE', `/sources/${sourceId}`)).status).toBe(204);
    const products = quoteQualified(SCHEMA, 'products');
    const customers = quoteQualified(SCHEMA, 'customers');
    // A hand-made products table, and a customers table claiming another Airtable table.
    await db.query(sql(`DROP TABLE ${products}`));
    await db.query(sql(`CREATE TABLE ${products} (id text PRIMARY KEY, note text)`));
    await db.query(sql(`INSERT INTO ${products} VALUES ('mine', 'hand-made')`));
    await db.query(sql(`COMMENT ON TABLE ${customers} IS 'Airtable table "Customers" (tblSomeOtherTable0)'`));
    const created = await call('POST', '/sources', {
      base_id: DEMO_BASE_ID,
      token: NEW_TOKEN,
      schema_name: SCHEMA,
    });
    expect(created.status).toBe(201);
    await api.settled();
    const schemas = (await call('GET', `/schemas?source_id=${created.json.id}`)).json.results;
    for (const s of schemas) {
      expect(s.status).toBe('Failed');
      expect(s.latest_error).toMatch(/is not an airmirror table/);
    }
    const mine = await db.query(sql(`SELECT id, note FROM ${products}`));
    expect(mine.rows).toEqual([{ id: 'mine', note: 'hand-made' }]);
    expect(await comment('customers')).toBe('Airtable table "Customers" (tblSomeOtherTable0)');
  });
});
