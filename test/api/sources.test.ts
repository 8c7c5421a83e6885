import { Hono } from 'hono';
import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';
import { ADMIN_TOKEN, buildApi, DEMO_BASE_ID, EMULATOR_TOKEN, SECRET_KEY } from './harness.ts';
import { createSecretBox } from '../../src/crypto/secrets.ts';

const { db } = await createTestDatabase();
const h = buildApi(db);

describe('authentication', () => {
  it('refuses a request without a bearer token', async () => {
    const r = await h.call('GET', '/sources', undefined, { authorization: '' });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ type: 'authentication_error', code: 'NOT_AUTHENTICATED', attr: null });
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('refuses a wrong token, and one that is a prefix of the right one', async () => {
    for (const token of ['nope', ADMIN_TOKEN.slice(0, -1), ADMIN_TOKEN + 'x']) {
      const r = await h.call('GET', '/sources', undefined, { authorization: `Bearer ${token}` });
      expect(r.status).toBe(401);
      expect(r.json.code).toBe('AUTHENTICATION_FAILED');
    }
  });

  it('accepts the configured token, and needs none when no token is configured', async () => {
    expect((await h.call('GET', '/sources')).status).toBe(200);
    const open = buildApi(db, { adminToken: undefined });
    expect((await open.call('GET', '/sources', undefined, { authorization: '' })).status).toBe(200);
  });

  it('serves the OpenAPI document without a token', async () => {
    const r = await h.call('GET', '/openapi.json', undefined, { authorization: '' });
    expect(r.status).toBe(200);
    expect(r.json.openapi).toBe('3.1.0');
    expect(Object.keys(r.json.paths)).toEqual(
      expect.arrayContaining([
        '/sources',
        '/sources/{id}',
        '/schemas',
        '/schemas/{id}',
        '/schemas/{id}/incremental-fields',
        '/schemas/{id}/reload',
        '/schemas/{id}/resync',
        '/schemas/{id}/cancel',
        '/schemas/{id}/delete-data',
      ]),
    );
    // Generated from the validating schemas: the enums and strictness are the enforced ones.
    const patch = r.json.components.schemas.PatchSchemaRequest;
    expect(patch.additionalProperties).toBe(false);
    expect(patch.properties.sync_type.enum).toEqual(['full_refresh', 'incremental', 'append', 'webhook']);
    expect(patch.properties.sync_frequency.enum).toContain('never');
    const create = r.json.components.schemas.CreateSourceRequest;
    expect(create.required).toEqual(expect.arrayContaining(['base_id', 'token']));
    expect(JSON.stringify(r.json)).not.toContain('$defs');
  });

  it('keeps its error shape when mounted at /api by the server', async () => {
    const server = new Hono();
    server.route('/api', h.app);
    const missing = await server.request('/api/nothing', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: 'invalid_request', code: 'NOT_FOUND' });
    const unauth = await server.request('/api/sources');
    expect(unauth.status).toBe(401);
    expect(
      (await server.request('/api/sources', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
    ).toBe(200);
  });

  it('answers unknown routes with an API-shaped 404', async () => {
    const r = await h.call('GET', '/nothing-here');
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ type: 'invalid_request', code: 'NOT_FOUND' });
  });
});

describe('POST /sources validation', () => {
  it.each([
    [{ token: EMULATOR_TOKEN }, 'base_id', /required/],
    [{ base_id: 'appShort', token: EMULATOR_TOKEN }, 'base_id', /base id/],
    [{ base_id: DEMO_BASE_ID }, 'token', /required/],
    [{ base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN, colour: 'red' }, 'colour', /Unknown field "colour"/],
    [{ base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN, schema_name: 'Bad-Name' }, 'schema_name', /identifier/],
    [{ base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN, schema_name: 'airmirror' }, 'schema_name', /reserved/],
    [
      { base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN, schema_name: 'information_schema' },
      'schema_name',
      /reserved: a Postgres system schema/,
    ],
    [{ base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN, schema_name: 'pg_mirror' }, 'schema_name', /reserved/],
    [{ base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN, schema_name: 'crm_swap' }, 'schema_name', /_swap/],
  ])('%j → 400 on %s', async (body, attr, detail) => {
    const r = await h.call('POST', '/sources', body);
    expect(r.status).toBe(400);
    expect(r.json.type).toBe('validation_error');
    expect(r.json.attr).toBe(attr);
    expect(r.json.detail).toMatch(detail);
  });

  it('rejects malformed JSON and non-objects', async () => {
    const bad = await h.call('POST', '/sources', '{"base_id":');
    expect(bad.status).toBe(400);
    expect(bad.json.code).toBe('PARSE_ERROR');
    expect((await h.call('POST', '/sources', '[1]')).status).toBe(400);
  });

  it('checks the token against Airtable before storing anything', async () => {
    const wrongToken = 'patWrongToken0001.' + 'f'.repeat(64);
    const r = await h.call('POST', '/sources', { base_id: DEMO_BASE_ID, token: wrongToken });
    expect(r.status).toBe(400);
    expect(r.json.attr).toBe('token');
    expect(r.text).not.toContain(wrongToken);
    const unknownBase = await h.call('POST', '/sources', {
      base_id: 'appAAAAAAAAAAAAAA',
      token: EMULATOR_TOKEN,
    });
    expect(unknownBase.status).toBe(400);
    expect(unknownBase.json.attr).toBe('base_id');
    const n = await db.query(sql('SELECT count(*)::int AS n FROM airmirror.sources'));
    expect(n.rows[0].n).toBe(0);
  });
});

describe('sources', () => {
  let sourceId: string;

  beforeAll(async () => {
    const r = await h.call('POST', '/sources', {
      base_id: DEMO_BASE_ID,
      token: EMULATOR_TOKEN,
      name: 'Demo',
    });
    expect(r.status).toBe(201);
    sourceId = r.json.id;
  });

  it('creates a source with its tables, never returning the token', async () => {
    const r = await h.call('GET', `/sources/${sourceId}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      base_id: DEMO_BASE_ID,
      schema_name: 'public',
      name: 'Demo',
      has_token: true,
    });
    expect(r.json.schemas.map((s: { name: string }) => s.name).sort()).toEqual([
      'Customers',
      'Orders',
      'Products',
    ]);
    const orders = r.json.schemas.find((s: { name: string }) => s.name === 'Orders');
    expect(orders).toMatchObject({
      mirror_table: 'orders',
      sync_type: 'full_refresh',
      should_sync: true,
      sync_frequency: '1hour',
      primary_key_columns: ['id'],
      rows: 0,
      last_synced_at: null,
      lag_seconds: null,
    });
    expect(r.text).not.toContain(EMULATOR_TOKEN);
    expect(JSON.stringify((await h.call('GET', '/sources')).json)).not.toContain(EMULATOR_TOKEN);
  });

  it('stores the token encrypted with the secret key', async () => {
    const row = await db.query(
      sql('SELECT token_encrypted FROM airmirror.sources WHERE id = $1', [sourceId]),
    );
    const sealed = row.rows[0].token_encrypted as string;
    expect(sealed.startsWith('v1:')).toBe(true);
    expect(sealed).not.toContain(EMULATOR_TOKEN);
    expect(await createSecretBox(SECRET_KEY).decrypt(sealed)).toBe(EMULATOR_TOKEN);
  });

  it('never writes the token to the log', async () => {
    await h.call('POST', '/sources', { base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN });
    expect(h.logs.text()).toContain('source created');
    expect(h.logs.text()).not.toContain(EMULATOR_TOKEN);
  });

  it('refuses a base or a schema that is already taken (409 naming the field)', async () => {
    const same = await h.call('POST', '/sources', { base_id: DEMO_BASE_ID, token: EMULATOR_TOKEN });
    expect(same.status).toBe(409);
    expect(same.json.attr).toBe('base_id');
    const offline = buildApi(db, { airtable: undefined });
    const schema = await offline.call('POST', '/sources', { base_id: 'appBBBBBBBBBBBBBB', token: 'x' });
    expect(schema.status).toBe(409);
    expect(schema.json.attr).toBe('schema_name');
  });

  it('lists sources and schemas, filtered by source', async () => {
    const list = await h.call('GET', '/sources');
    expect(list.json.count).toBe(1);
    const schemas = await h.call('GET', `/schemas?source_id=${sourceId}`);
    expect(schemas.json.count).toBe(3);
    expect((await h.call('GET', '/schemas?source_id=nope')).status).toBe(404);
    expect((await h.call('GET', '/schemas?colour=1')).json.attr).toBe('colour');
    expect((await h.call('GET', '/sources/nope')).status).toBe(404);
    expect((await h.call('GET', '/schemas/nope')).status).toBe(404);
  });

  it('shows per-table status', async () => {
    const r = await h.call('GET', '/status');
    expect(r.status).toBe(200);
    expect(r.json.tables).toHaveLength(3);
    expect(r.json.tables[0]).toMatchObject({ base_id: DEMO_BASE_ID, sync_type: 'full_refresh', rows: 0 });
  });
});

describe('DELETE /sources/{id}', () => {
  it('deletes the config, and drops the mirror tables only when asked', async () => {
    const offline = buildApi(db, { airtable: undefined });
    const keep = await offline.call('POST', '/sources', {
      base_id: 'appCCCCCCCCCCCCCC',
      token: 'tok-keep',
      schema_name: 'keep_me',
    });
    const drop = await offline.call('POST', '/sources', {
      base_id: 'appDDDDDDDDDDDDDD',
      token: 'tok-drop',
      schema_name: 'drop_me',
    });
    for (const [id, schema] of [
      [keep.json.id, 'keep_me'],
      [drop.json.id, 'drop_me'],
    ]) {
      await db.query(
        sql(
          `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table)
             VALUES ($1, $2, 'tblAAAAAAAAAAAAAA', 'Things', 'things')`,
          [`${id}-t`, id],
        ),
      );
      await db.query(sql(`CREATE SCHEMA ${schema}`));
      await db.query(sql(`CREATE TABLE ${schema}.things (id text primary key)`));
    }
    expect((await offline.call('DELETE', `/sources/${keep.json.id}`)).status).toBe(204);
    expect((await offline.call('DELETE', `/sources/${drop.json.id}?drop_data=true`)).status).toBe(204);
    const rel = async (name: string) =>
      (await db.query(sql('SELECT to_regclass($1) AS r', [name]))).rows[0].r as string | null;
    expect(await rel('keep_me.things')).not.toBeNull();
    expect(await rel('drop_me.things')).toBeNull();
    const left = await db.query(
      sql('SELECT count(*)::int AS n FROM airmirror.tables WHERE source_id = ANY($1)', [
        [keep.json.id, drop.json.id],
      ]),
    );
    expect(left.rows[0].n).toBe(0);
    expect((await offline.call('GET', `/sources/${keep.json.id}`)).status).toBe(404);
    expect((await offline.call('DELETE', `/sources/${keep.json.id}?drop_data=yes`)).json.attr).toBe(
      'drop_data',
    );
  });
});
