import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { createRateBudget } from '../../src/airtable/index.ts';
import { sql } from '../../src/db/sql.ts';
import { createSyncer } from '../../sync/syncer.ts';
import { createTestDatabase } from '../support/db.ts';
import { buildApi, DEMO_BASE_ID, EMULATOR_TOKEN, emulatorFetch } from './harness.ts';

/**
 * Choosing what is mirrored (issue 13): per source which tables, per table which fields. Excluded
 * fields are never requested (`fields[]` names only the mirrored ones) and never stored; excluded
 * tables are never listed and have no mirror table; both can be mirrored again.
 */
describe('what is mirrored', () => {
  it('per source, per table, per field — never requested, never stored, and back again', async () => {
    const { db } = await createTestDatabase();
    const api = buildApi(db);
    const urls: string[] = [];
    const base = emulatorFetch(api.emulator);
    const recording: typeof fetch = (input, init) => {
      urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return base(input, init);
    };
    const syncer = createSyncer({
      db,
      fetch: recording,
      budget: createRateBudget({ perSecond: 1000 }),
      apiUrl: 'https://api.airtable.com',
      tokenFor: () => EMULATOR_TOKEN,
      hashCacheSize: 10_000,
      log: pino({ level: 'silent' }),
    });
    api.deps.syncer = syncer;
    const { createApi } = await import('../../src/api/index.ts');
    const app = createApi(api.deps);
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await app.request(path, {
        method,
        headers: {
          authorization: 'Bearer admin-token-for-tests-0123456789',
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const meta = (await (
      await base(`https://api.airtable.com/v0/meta/bases/${DEMO_BASE_ID}/tables`, {
        headers: { authorization: `Bearer ${EMULATOR_TOKEN}` },
      })
    ).json()) as { tables: { id: string; name: string; fields: { id: string; name: string }[] }[] };
    const id = (name: string) => meta.tables.find((t) => t.name === name)!.id;
    const listed = (tableId: string) => urls.filter((u) => u.includes(`/${DEMO_BASE_ID}/${tableId}`));

    // A source mirroring two of the three tables, by name and by id; an unknown one is a 400.
    const bad = await call('POST', '/sources', {
      base_id: DEMO_BASE_ID,
      token: EMULATOR_TOKEN,
      tables: ['Nope'],
    });
    expect(bad).toMatchObject({ status: 400, json: { attr: 'tables' } });
    const created = await call('POST', '/sources', {
      base_id: DEMO_BASE_ID,
      token: EMULATOR_TOKEN,
      schema_name: 'shop',
      tables: ['Customers', id('Orders')],
    });
    expect(created.status).toBe(201);
    await app.settled();
    const sourceId = created.json.id as string;
    const relation = async (name: string) =>
      (await db.query<{ r: string | null }>(sql('SELECT to_regclass($1)::text AS r', [name]))).rows[0].r;
    expect(await relation('shop.customers')).toBe('shop.customers');
    expect(await relation('shop.products')).toBeNull();
    expect(listed(id('Products'))).toEqual([]);
    const schemas = (await call('GET', `/schemas?source_id=${sourceId}`)).json.results as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    const schemaOf = (name: string) => schemas.find((s) => s.name === name);
    expect(schemaOf('Products')).toMatchObject({ mirrored: false });
    expect(schemaOf('Orders')).toMatchObject({ mirrored: true, excluded_fields: [] });

    // Fields: by name and by id; an unknown one is a 400 naming it, and nothing changes.
    const orders = meta.tables.find((t) => t.name === 'Orders')!;
    const quantity = orders.fields.find((f) => f.name === 'Quantity')!.id;
    const notes = orders.fields.find((f) => f.name === 'Notes')!.id;
    const unknown = await call('PATCH', `/schemas/${schemaOf('Orders').id}`, { excluded_fields: ['Nope'] });
    expect(unknown).toMatchObject({ status: 400, json: { attr: 'excluded_fields' } });
    expect(unknown.json.detail).toContain('"Nope"');
    const patched = await call('PATCH', `/schemas/${schemaOf('Orders').id}`, {
      excluded_fields: ['Notes', quantity],
    });
    expect(patched.status).toBe(200);
    expect(patched.json.excluded_fields).toEqual([notes, quantity].sort());
    await app.settled();
    const columns = async (table: string) =>
      (
        await db.query<{ c: string }>(
          sql(
            `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = 'shop' AND table_name = $1`,
            [table],
          ),
        )
      ).rows.map((r) => r.c);
    expect(await columns('orders')).not.toContain('notes');
    expect(await columns('orders')).not.toContain('quantity');
    urls.length = 0;
    const run = await syncer.syncTable(sourceId, id('Orders'), { full: true });
    expect(run.status).toBe('Completed');
    const lists = listed(id('Orders'));
    expect(lists.length).toBeGreaterThan(0);
    for (const u of lists) {
      const fields = new URL(u).searchParams.getAll('fields[]');
      expect(fields.length).toBeGreaterThan(0);
      expect(fields).not.toContain(notes);
      expect(fields).not.toContain(quantity);
    }
    // The excluded fields back: their columns come back, filled.
    expect((await call('PATCH', `/schemas/${schemaOf('Orders').id}`, { excluded_fields: [] })).status).toBe(
      200,
    );
    await app.settled();
    await syncer.syncSource(sourceId);
    expect(await columns('orders')).toEqual(expect.arrayContaining(['notes', 'quantity']));
    const filled = await db.query<{ n: number }>(
      sql('SELECT count(*)::int AS n FROM shop.orders WHERE quantity IS NOT NULL'),
    );
    expect(filled.rows[0].n).toBeGreaterThan(0);

    // A table excluded: its mirror table goes, it is never listed; mirrored again: back and filled.
    expect((await call('PATCH', `/schemas/${schemaOf('Customers').id}`, { mirrored: false })).status).toBe(
      200,
    );
    await app.settled();
    expect(await relation('shop.customers')).toBeNull();
    urls.length = 0;
    const all = await syncer.syncSource(sourceId);
    expect(all.error).toBeUndefined();
    expect(listed(id('Customers'))).toEqual([]);
    expect((await call('GET', `/status?source_id=${sourceId}`)).json.tables).toEqual(
      expect.arrayContaining([expect.objectContaining({ table: 'Customers', mirrored: false })]),
    );
    expect((await call('PATCH', `/schemas/${schemaOf('Products').id}`, { mirrored: true })).status).toBe(200);
    await app.settled();
    const products = await db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM shop.products'));
    expect(products.rows[0].n).toBeGreaterThan(0);
    await syncer.stop();
  });
});
