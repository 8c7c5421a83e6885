import { beforeAll, describe, expect, it } from 'vitest';
import type { BaseSchema } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import {
  buildBaseMapping,
  buildSwapSchema,
  cleanupSwap,
  prepareSwapSchema,
  type BaseMapping,
} from '../../src/mirror/index.ts';
import { SwapFillBatch } from '../../src/mirror/swap-fill.ts';
import { createTestDatabase } from '../support/db.ts';

// Field configs as the meta API returns them (docs/airtable-reference.md §3.2/§3.3).
const BASE: BaseSchema = {
  tables: [
    {
      id: 'tblSwapFill000001',
      name: 'Things',
      primaryFieldId: 'fldName0000000001',
      fields: [
        { id: 'fldName0000000001', name: 'Name', type: 'singleLineText' },
        { id: 'fldQty00000000001', name: 'Qty', type: 'number', options: { precision: 0 } },
        { id: 'fldTags0000000001', name: 'Tags', type: 'multipleSelects', options: { choices: [] } },
        { id: 'fldOwner000000001', name: 'Owner', type: 'singleCollaborator', options: {} },
        {
          id: 'fldRatio000000001',
          name: 'Ratio',
          type: 'formula',
          options: { isValid: true, formula: '{Qty}/0', referencedFieldIds: [], result: { type: 'number' } },
        },
      ],
      views: [],
    },
    {
      id: 'tblSwapFill000002',
      name: 'Other Things',
      primaryFieldId: 'fldOther000000001',
      fields: [{ id: 'fldOther000000001', name: 'Label', type: 'singleLineText' }],
      views: [],
    },
  ],
} as unknown as BaseSchema;

let db: Database;
let mapping: BaseMapping;
const created = '2024-01-02T03:04:05.000Z';

beforeAll(async () => {
  ({ db } = await createTestDatabase());
  mapping = buildBaseMapping('fill', BASE, undefined);
});

describe('buildSwapSchema', () => {
  it('refuses a fill_swap schema airmirror did not create, naming it, and leaves it alone', async () => {
    await db.query(sql('CREATE SCHEMA fill_swap'));
    await db.query(sql('CREATE TABLE fill_swap.keep_me (x int)'));
    await expect(buildSwapSchema(db, 'fill', mapping)).rejects.toMatchObject({
      status: 409,
      code: 'FOREIGN_SWAP_SCHEMA',
      message: expect.stringContaining('"fill_swap"'),
    });
    expect(await cleanupSwap(db, 'fill')).toBe(false);
    const kept = await db.query(sql(`SELECT to_regclass('fill_swap.keep_me') AS r`));
    expect(kept.rows[0].r).toBe('fill_swap.keep_me');
    await db.query(sql('DROP SCHEMA fill_swap CASCADE'));
  });

  it('replaces a leftover swap schema of its own with every table of the base, commented, in one statement', async () => {
    await prepareSwapSchema(db, 'fill');
    await db.query(sql('CREATE TABLE fill_swap.leftover (x int)'));
    const swap = await buildSwapSchema(db, 'fill', mapping);
    expect(swap).toBe('fill_swap');
    const tables = await db.query<{ relname: string; comment: string | null }>(
      sql(
        `SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'fill_swap' AND c.relkind = 'r'
         ORDER BY c.relname`,
      ),
    );
    expect(tables.rows).toEqual([
      { relname: 'other_things', comment: 'Airtable table "Other Things" (tblSwapFill000002)' },
      { relname: 'things', comment: 'Airtable table "Things" (tblSwapFill000001)' },
    ]);
    const col = await db.query<{ comment: string }>(
      sql(`SELECT col_description('fill_swap.things'::regclass, attnum) AS comment FROM pg_attribute
           WHERE attrelid = 'fill_swap.things'::regclass AND attname = 'qty'`),
    );
    expect(col.rows[0].comment).toBe('Airtable field "Qty" (fldQty00000000001), number');
  });

  it('changes nothing when one statement fails (one implicit transaction)', async () => {
    await buildSwapSchema(db, 'fill', mapping);
    await db.query(sql('INSERT INTO fill_swap.things (id, created_time) VALUES ($1, now())', ['recKeep']));
    // The second table's CREATE fails (a type Postgres does not know), after the DROP of the first.
    const other = mapping.tables[1];
    const bad = {
      ...mapping,
      tables: [mapping.tables[0], { ...other, columns: [{ ...other.columns[0], pgType: 'no_such_type' }] }],
    };
    await expect(buildSwapSchema(db, 'fill', bad)).rejects.toThrow();
    const r = await db.query(sql('SELECT id FROM fill_swap.things'));
    expect(r.rows).toEqual([{ id: 'recKeep' }]);
  });
});

describe('SwapFillBatch', () => {
  const things = () => mapping.tables.find((t) => t.tableId === 'tblSwapFill000001')!;
  const rec = (id: string, name: string, qty: number) => ({
    id,
    createdTime: created,
    fields: {
      fldName0000000001: name,
      fldQty00000000001: qty,
      fldTags0000000001: ['a', 'b'],
      fldOwner000000001: { id: 'usr1', email: 'a@example.com', name: 'A' },
      fldRatio000000001: { specialValue: 'Infinity' },
    },
  });

  const rowsOf = async () =>
    (
      await db.query<{ id: string; name: string; qty: number; xmin: string }>(
        sql(`SELECT id, name, qty::int AS qty, xmin::text AS xmin FROM fill_swap.things ORDER BY id`),
      )
    ).rows;

  it('converts as records are added and copies them in, every column typed', async () => {
    await buildSwapSchema(db, 'fill', mapping);
    const batch = new SwapFillBatch(things(), 'fill_swap');
    batch.add(rec('rec1', 'one', 1), 11);
    batch.add(rec('rec2', 'two\ttabbed\nline', 2), 22);
    expect(batch.size).toBe(2);
    const { written, ...result } = await batch.write(db);
    expect(result).toEqual({ inserted: 2, updated: 0, unchanged: 0, cellErrors: 2 });
    expect(written).toEqual([
      ['rec1', 11],
      ['rec2', 22],
    ]);
    expect(batch.size).toBe(0);
    const rows = await db.query(
      sql(`SELECT id, name, qty::int AS qty, tags, owner->>'id' AS owner, ratio, created_time
           FROM ${quoteQualified('fill_swap', things().table)} ORDER BY id`),
    );
    const row = (id: string, name: string, qty: number) => ({
      id,
      name,
      qty,
      tags: ['a', 'b'],
      owner: 'usr1',
      ratio: null,
      created_time: new Date(created),
    });
    expect(rows.rows).toEqual([row('rec1', 'one', 1), row('rec2', 'two\ttabbed\nline', 2)]);
  });

  it('an id repeated within a batch ends as its last version (through the staging table)', async () => {
    await buildSwapSchema(db, 'fill', mapping);
    const batch = new SwapFillBatch(things(), 'fill_swap');
    batch.add(rec('rec1', 'first', 1), 11);
    batch.add(rec('rec2', 'two', 2), 22);
    batch.add(rec('rec1', 'again', 3), 33);
    expect(batch.size).toBe(3);
    const { written, ...result } = await batch.write(db);
    expect(result).toEqual({ inserted: 2, updated: 0, unchanged: 0, cellErrors: 3 });
    expect(written).toEqual([
      ['rec2', 22],
      ['rec1', 33],
    ]);
    expect((await rowsOf()).map(({ id, name, qty }) => ({ id, name, qty }))).toEqual([
      { id: 'rec1', name: 'again', qty: 3 },
      { id: 'rec2', name: 'two', qty: 2 },
    ]);
    // The staging table went with its transaction; the next batch can make it again.
    batch.add(rec('rec3', 'three', 3), 3);
    batch.add(rec('rec3', 'three', 3), 3);
    expect(await batch.write(db)).toMatchObject({ inserted: 1, updated: 0, unchanged: 0 });
  });

  it('a record listed again in a later batch updates its row, an identical repeat writes nothing', async () => {
    await buildSwapSchema(db, 'fill', mapping);
    const batch = new SwapFillBatch(things(), 'fill_swap');
    batch.add(rec('rec1', 'one', 1), 1);
    batch.add(rec('rec2', 'two', 2), 2);
    await batch.write(db);
    const before = await rowsOf();
    // rec1 and rec2 are in the table: the COPY is refused (unique id) and nothing of it stays.
    batch.add(rec('rec1', 'one', 1), 1);
    batch.add(rec('rec2', 'TWO', 2), 3);
    batch.add(rec('rec4', 'four', 4), 4);
    const { written, ...result } = await batch.write(db);
    expect(result).toEqual({ inserted: 1, updated: 1, unchanged: 1, cellErrors: 3 });
    expect(written.map(([id]) => id)).toEqual(['rec1', 'rec2', 'rec4']);
    const after = await rowsOf();
    expect(after.map((r) => [r.id, r.name])).toEqual([
      ['rec1', 'one'],
      ['rec2', 'TWO'],
      ['rec4', 'four'],
    ]);
    expect(after[0].xmin).toBe(before[0].xmin);
    expect(after[1].xmin).not.toBe(before[1].xmin);
  });

  it('a failure other than a repeated id is thrown, not retried', async () => {
    const batch = new SwapFillBatch(things(), 'no_such_schema');
    batch.add(rec('rec1', 'one', 1), 1);
    await expect(batch.write(db)).rejects.toMatchObject({ code: '3F000' }); // invalid_schema_name;
    expect(batch.size).toBe(0);
  });

  it('writes nothing (no statement) when empty', async () => {
    const batch = new SwapFillBatch(things(), 'no_such_schema');
    const { written, ...result } = await batch.write(db);
    expect(result).toEqual({ inserted: 0, updated: 0, unchanged: 0, cellErrors: 0 });
    expect(written).toEqual([]);
  });
});
