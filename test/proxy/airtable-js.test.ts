import type Airtable from 'airtable';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { quoteIdent, quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { DEMO_BASE_ID } from '../../emulator/index.ts';
import type { TableMapping } from '../../src/mirror/types.ts';
import { createTestDatabase } from '../support/db.ts';
import { startStack, type Stack } from './harness.ts';

type Row = Record<string, unknown>;

/** The mirror row of `id`, keyed by Airtable field name (only the named fields). */
async function mirrorRow(
  db: Database,
  t: TableMapping,
  id: string,
  fields: string[],
): Promise<Row | undefined> {
  const cols = fields.map((f) => {
    const c = t.columns.find((x) => x.fieldName === f);
    if (!c) throw new Error(`no field ${f}`);
    return `${quoteIdent(c.column)} AS ${quoteIdent(f)}`;
  });
  const r = await db.query(
    sql(`SELECT ${cols.join(', ')} FROM ${quoteQualified(t.schema, t.table)} WHERE id = $1`, [id]),
  );
  return r.rows[0];
}

async function mirrorHas(db: Database, t: TableMapping, ids: string[]): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    sql(`SELECT id FROM ${quoteQualified(t.schema, t.table)} WHERE id = ANY($1) ORDER BY id`, [ids]),
  );
  return r.rows.map((x) => x.id);
}

describe('airtable.js through the proxy, each write followed at once by SQL', () => {
  let db: Database;
  let s: Stack;
  let customers: Airtable.Table<Airtable.FieldSet>;
  let t: TableMapping;

  beforeAll(async () => {
    ({ db } = await createTestDatabase());
    s = await startStack(db);
    customers = s.base('Customers');
    t = s.table('Customers');
  });
  afterAll(() => s.close());

  it('select (every page) and find pass through unchanged', async () => {
    const viaProxy = await customers
      .select({ pageSize: 7, sort: [{ field: 'Name', direction: 'asc' }] })
      .all();
    const direct = [];
    for await (const page of s.client.listAllRecords(DEMO_BASE_ID, 'Customers', {
      pageSize: 7,
      returnFieldsByFieldId: false,
      sort: [{ field: 'Name', direction: 'asc' }],
    })) {
      direct.push(...page.records);
    }
    expect(viaProxy.length).toBeGreaterThan(7);
    expect(viaProxy.map((r) => r._rawJson)).toEqual(direct);
    const one = await customers.find(direct[3].id);
    expect(one._rawJson).toEqual(direct[3]);
  });

  it('create one', async () => {
    const r = await customers.create({ Name: 'Ada Create', Email: 'ada@example.com' });
    expect(await mirrorRow(db, t, r.id, ['Name', 'Email', 'Active'])).toEqual({
      Name: 'Ada Create',
      Email: 'ada@example.com',
      Active: false,
    });
  });

  it('create a batch with typecast (a new select option)', async () => {
    const rs = await customers.create(
      [{ fields: { Name: 'Batch 1', Tier: 'Diamond' } }, { fields: { Name: 'Batch 2', Active: true } }],
      { typecast: true },
    );
    expect(await mirrorRow(db, t, rs[0].id, ['Name', 'Tier'])).toEqual({ Name: 'Batch 1', Tier: 'Diamond' });
    expect(await mirrorRow(db, t, rs[1].id, ['Name', 'Active'])).toEqual({ Name: 'Batch 2', Active: true });
  });

  it('create with returnFieldsByFieldId, on a table addressed by id', async () => {
    const byId = s.base(t.tableId);
    const nameField = t.columns.find((c) => c.fieldName === 'Name')!.fieldId;
    const r = (await byId.create({ [nameField]: 'By Id' }, {
      returnFieldsByFieldId: true,
    } as never)) as Airtable.Record<Airtable.FieldSet>;
    expect(Object.keys(r._rawJson.fields)).toContain(nameField);
    expect(await mirrorRow(db, t, r.id, ['Name'])).toEqual({ Name: 'By Id' });
  });

  it('update (PATCH) one and a batch: only listed fields change', async () => {
    const [a, b] = await customers.create([
      { fields: { Name: 'Upd A', Email: 'a@x.io' } },
      { fields: { Name: 'Upd B' } },
    ]);
    await customers.update(a.id, { Notes: 'patched' });
    expect(await mirrorRow(db, t, a.id, ['Name', 'Email', 'Notes'])).toEqual({
      Name: 'Upd A',
      Email: 'a@x.io',
      Notes: 'patched',
    });
    await customers.update([
      { id: a.id, fields: { Active: true } },
      { id: b.id, fields: { Notes: 'b' } },
    ]);
    expect(await mirrorRow(db, t, a.id, ['Email', 'Active'])).toEqual({ Email: 'a@x.io', Active: true });
    expect(await mirrorRow(db, t, b.id, ['Name', 'Notes'])).toEqual({ Name: 'Upd B', Notes: 'b' });
  });

  it('replace (PUT): fields absent from the answer are NULL', async () => {
    const a = await customers.create({ Name: 'Put me', Email: 'put@x.io', Notes: 'gone soon' });
    await customers.replace(a.id, { Name: 'Put only' });
    expect(await mirrorRow(db, t, a.id, ['Name', 'Email', 'Notes'])).toEqual({
      Name: 'Put only',
      Email: null,
      Notes: null,
    });
  });

  it('destroy one and a batch', async () => {
    const [a, b, c] = await customers.create([
      { fields: { Name: 'D1' } },
      { fields: { Name: 'D2' } },
      { fields: { Name: 'D3' } },
    ]);
    expect(await mirrorHas(db, t, [a.id, b.id, c.id])).toHaveLength(3);
    await customers.destroy(a.id);
    expect(await mirrorHas(db, t, [a.id, b.id, c.id])).toEqual([b.id, c.id].sort());
    await customers.destroy([b.id, c.id]);
    expect(await mirrorHas(db, t, [a.id, b.id, c.id])).toEqual([]);
  });

  it('upsert (performUpsert): one record updated, one created', async () => {
    const existing = await customers.create({ Name: 'Upsert Me', Notes: 'before' });
    // airtable.js 0.12.2's types predate performUpsert; it passes the option into the body.
    const out = (await customers.update(
      [
        { fields: { Name: 'Upsert Me', Notes: 'after' } },
        { fields: { Name: 'Upsert New', Notes: 'new' } },
      ] as never,
      { performUpsert: { fieldsToMergeOn: ['Name'] } } as never,
    )) as unknown as Airtable.Records<Airtable.FieldSet>;
    expect(out.map((r) => r.id)).toContain(existing.id);
    const created = out.find((r) => r.id !== existing.id)!;
    expect(await mirrorRow(db, t, existing.id, ['Notes'])).toEqual({ Notes: 'after' });
    expect(await mirrorRow(db, t, created.id, ['Name', 'Notes'])).toEqual({
      Name: 'Upsert New',
      Notes: 'new',
    });
  });

  it('records each proxy write as a change event through the write path', async () => {
    const r = await customers.create({ Name: 'Evented' });
    await customers.update(r.id, { Notes: 'n' });
    await customers.destroy(r.id);
    const ev = await db.query<{ op: string; origin: string }>(
      sql('SELECT op, origin FROM airmirror.outbox WHERE record_id = $1 ORDER BY id', [r.id]),
    );
    expect(ev.rows.map((e) => `${e.op}/${e.origin}`)).toEqual([
      'insert/proxy',
      'update/proxy',
      'delete/proxy',
    ]);
  });

  it('an Airtable error reaches the app unchanged and nothing is applied', async () => {
    const before = (await db.query(sql('SELECT count(*)::int AS n FROM airmirror.outbox'))).rows[0];
    const err = await customers
      .create({ Nmae: 'typo' })
      .catch((e: unknown) => e as { statusCode: number; error: string });
    expect(err).toMatchObject({ statusCode: 422, error: 'UNKNOWN_FIELD_NAME' });
    const after = (await db.query(sql('SELECT count(*)::int AS n FROM airmirror.outbox'))).rows[0];
    expect(after).toEqual(before);
  });
});
