import { beforeAll, describe, expect, it } from 'vitest';
import type { BaseSchema } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import {
  applyRecords,
  buildBaseMapping,
  cleanupSwap,
  createMirrorTables,
  loadMapping,
  prepareSwapSchema,
  saveMapping,
  takeFence,
  type BaseMapping,
} from '../../src/mirror/index.ts';
import { promoteSwap } from '../../src/mirror/promote.ts';
import { createTestDatabase, connectClient } from '../support/db.ts';
import { allTypesSchema } from './fixtures.ts';

let db: Database;

async function addSource(id: string, schema: string): Promise<void> {
  await db.query(
    sql(`INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, $2, $3)`, [
      id,
      `app${id}`,
      schema,
    ]),
  );
}

async function columnComments(schema: string, table: string): Promise<Record<string, string | null>> {
  const r = await db.query<{ attname: string; c: string | null }>(
    sql(
      `SELECT a.attname, col_description(a.attrelid, a.attnum) AS c FROM pg_attribute a
       WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [quoteQualified(schema, table)],
    ),
  );
  return Object.fromEntries(r.rows.map((x) => [x.attname, x.c]));
}

const weird: BaseSchema = {
  tables: [
    {
      id: 'tblWeird000000001',
      name: `🚀 "Launch" ${'x'.repeat(200)}`,
      primaryFieldId: 'fldA',
      views: [],
      fields: [
        { id: 'fldA', name: 'Robert"); DROP TABLE students;--', type: 'singleLineText' },
        { id: 'fldB', name: '🙂', type: 'number' },
        { id: 'fldC', name: 'Статус', type: 'singleSelect' },
        { id: 'fldD', name: 'id', type: 'checkbox' },
        { id: 'fldE', name: 'Created Time', type: 'dateTime' },
        { id: 'fldF', name: `It's ${'long '.repeat(40)}`, type: 'multipleSelects' },
        { id: 'fldG', name: `It's ${'long '.repeat(40)}!`, type: 'multipleRecordLinks' },
        { id: 'fldH', name: 'user', type: 'richText' },
      ],
    },
    {
      id: 'tblWeird000000002',
      name: '名前',
      primaryFieldId: 'fldA',
      views: [],
      fields: [{ id: 'fldA', name: 'Name', type: 'singleLineText' }],
    },
  ],
};

beforeAll(async () => {
  ({ db } = await createTestDatabase());
});

describe('createMirrorTables', () => {
  it('creates typed tables with the docs/DESIGN.md comments on tables and columns', async () => {
    const mapping = buildBaseMapping('ddl_types', allTypesSchema());
    await createMirrorTables(db, mapping);
    const t = mapping.tables[0];
    const table = await db.query<{ c: string }>(
      sql(`SELECT obj_description($1::regclass, 'pg_class') AS c`, ['ddl_types.apartments']),
    );
    expect(table.rows[0].c).toBe('Airtable table "Apartments" (tbltp8DGLhqbUmjK1)');
    const comments = await columnComments('ddl_types', 'apartments');
    expect(Object.keys(comments)).toEqual(['id', 'created_time', ...t.columns.map((c) => c.column)]);
    expect(comments.created).toBe('Airtable field "Created" (fldnejiVookFfecbE), createdTime');
    expect(comments.name).toBe('Airtable field "Name" (fldName0000000001), singleLineText');
    const types = await db.query<{
      column_name: string;
      t: string;
      is_nullable: string;
      column_default: string | null;
    }>(
      sql(
        `SELECT column_name, format_type(a.atttypid, a.atttypmod) AS t, is_nullable, column_default
         FROM information_schema.columns c JOIN pg_attribute a ON a.attrelid = 'ddl_types.apartments'::regclass AND a.attname = c.column_name
         WHERE table_schema = 'ddl_types' AND table_name = 'apartments'`,
      ),
    );
    const byName = Object.fromEntries(types.rows.map((r) => [r.column_name, r]));
    expect(byName.id).toMatchObject({ t: 'text', is_nullable: 'NO' });
    expect(byName.created_time).toMatchObject({ t: 'timestamp with time zone', is_nullable: 'NO' });
    expect(byName.done).toMatchObject({ t: 'boolean', is_nullable: 'NO', column_default: 'false' });
    expect(byName.tags.t).toBe('text[]');
    expect(byName.owner.t).toBe('jsonb');
    expect(byName.number.t).toBe('numeric');
    expect(byName.rating.t).toBe('bigint');
    expect(byName.due.t).toBe('date');
    // idempotent
    await createMirrorTables(db, mapping);
  });

  it('round-trips tables and columns with emoji, quotes, non-Latin and 200-character names', async () => {
    await addSource('src_weird', 'Weird "schema" 🚀');
    const mapping = buildBaseMapping('Weird "schema" 🚀', weird);
    await createMirrorTables(db, mapping);
    const [t, t2] = mapping.tables;
    for (const name of [t.table, ...t.columns.map((c) => c.column)])
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(t2.table).toBe('名前');
    const r = await applyRecords(
      db,
      t,
      [
        {
          id: 'recW',
          createdTime: '2024-05-01T10:00:00.000Z',
          fields: {
            fldA: 'x"); --',
            fldB: 1.5,
            fldC: 'Новый',
            fldD: true,
            fldE: '2024-05-01T10:00:00.000Z',
            fldF: ['a'],
            fldG: ['recX'],
            fldH: '*hi*',
          },
        },
      ],
      { origin: 'proxy', sourceId: 'src_weird', stampFence: true },
    );
    expect(r.inserted).toBe(1);
    const back = await db.query(sql(`SELECT * FROM ${quoteQualified(t.schema, t.table)}`));
    expect(back.rows[0]).toEqual({
      id: 'recW',
      created_time: new Date('2024-05-01T10:00:00.000Z'),
      [t.columns[0].column]: 'x"); --',
      [t.columns[1].column]: '1.5',
      [t.columns[2].column]: 'Новый',
      [t.columns[3].column]: true,
      [t.columns[4].column]: new Date('2024-05-01T10:00:00.000Z'),
      [t.columns[5].column]: ['a'],
      [t.columns[6].column]: ['recX'],
      [t.columns[7].column]: '*hi*',
    });
    expect(t.columns.map((c) => c.column).slice(0, 5)).toEqual([
      'robert_drop_table_students',
      'field',
      'статус',
      'id_2',
      'created_time_2',
    ]);
    const ev = await db.query(
      sql(`SELECT mirror_schema, mirror_table, after FROM airmirror.outbox WHERE source_id = 'src_weird'`),
    );
    expect(ev.rows[0]).toMatchObject({ mirror_schema: 'Weird "schema" 🚀', mirror_table: t.table });
    expect(ev.rows[0].after[t.columns[2].column]).toBe('Новый');
  });
});

describe('saveMapping / loadMapping', () => {
  it('round-trips a mapping and keeps the sync configuration of existing table rows', async () => {
    await addSource('src_map', 'mapped');
    expect(await loadMapping(db, 'src_map')).toBeUndefined();
    const mapping = buildBaseMapping('mapped', { tables: [...weird.tables, ...allTypesSchema().tables] });
    await saveMapping(db, 'src_map', mapping);
    // Warnings (a name Postgres cannot keep, …) go to the tables' status, not the stored mapping.
    const stored = (m: BaseMapping) => ({ ...m, tables: m.tables.map(({ warnings: _w, ...t }) => t) });
    expect(await loadMapping(db, 'src_map')).toEqual(stored(mapping));
    const hash = await db.query(sql(`SELECT schema_hash FROM airmirror.sources WHERE id = 'src_map'`));
    expect(hash.rows[0].schema_hash).toBe(mapping.hash);

    await db.query(
      sql(
        `UPDATE airmirror.tables SET sync_type = 'incremental', should_sync = false WHERE source_id = 'src_map' AND table_id = $1`,
        [weird.tables[1].id],
      ),
    );
    // the second table is renamed in Airtable, the first is deleted
    const next: BaseSchema = structuredClone({ tables: [weird.tables[1], ...allTypesSchema().tables] });
    next.tables[0].name = 'Renamed';
    const nextMapping = buildBaseMapping('mapped', next, mapping);
    await saveMapping(db, 'src_map', nextMapping);
    expect(await loadMapping(db, 'src_map')).toEqual(stored(nextMapping));
    const rows = await db.query(
      sql(`SELECT table_id, table_name, mirror_table, sync_type, should_sync, vanished_at IS NOT NULL AS vanished
           FROM airmirror.tables WHERE source_id = 'src_map' ORDER BY table_id`),
    );
    expect(rows.rows).toEqual([
      {
        table_id: 'tblWeird000000001',
        table_name: weird.tables[0].name,
        mirror_table: mapping.tables[0].table,
        sync_type: 'full_refresh',
        should_sync: true,
        vanished: true,
      },
      {
        table_id: 'tblWeird000000002',
        table_name: 'Renamed',
        mirror_table: 'renamed',
        sync_type: 'incremental',
        should_sync: false,
        vanished: false,
      },
      {
        table_id: 'tbltp8DGLhqbUmjK1',
        table_name: 'Apartments',
        mirror_table: 'apartments',
        sync_type: 'full_refresh',
        should_sync: true,
        vanished: false,
      },
    ]);
  });
});

describe('swap rebuild', () => {
  const v1: BaseSchema = {
    tables: [
      {
        id: 'tblSwap0000000001',
        name: 'Users',
        primaryFieldId: 'fldA',
        views: [],
        fields: [{ id: 'fldA', name: 'Name', type: 'singleLineText' }],
      },
      {
        id: 'tblSwap0000000002',
        name: 'Old Table',
        primaryFieldId: 'fldA',
        views: [],
        fields: [{ id: 'fldA', name: 'Name', type: 'singleLineText' }],
      },
    ],
  };

  async function fill(
    mapping: BaseMapping,
    schema: string | undefined,
    n: number,
    extra?: Record<string, unknown>,
  ) {
    const t = mapping.tables[0];
    const recs = Array.from({ length: n }, (_, i) => ({
      id: `rec${i}`,
      createdTime: '2024-01-01T00:00:00.000Z',
      fields: { fldA: `user ${i}`, ...extra },
    }));
    return applyRecords(db, t, recs, { origin: 'sweep', sourceId: 'src_swap', schemaOverride: schema });
  }

  it('builds in <schema>_swap and promotes while readers never see a missing table', async () => {
    await addSource('src_swap', 'swapped');
    await db.query(sql('CREATE SCHEMA swapped'));
    await db.query(sql('CREATE TABLE swapped.foreign_notes (x int)')); // not airmirror's: must survive
    const m1 = buildBaseMapping('swapped', v1);
    await createMirrorTables(db, m1);
    await saveMapping(db, 'src_swap', m1);
    await fill(m1, undefined, 100);

    // the base changes: a new field with a numeric type, a table gone
    const v2: BaseSchema = structuredClone({ tables: [v1.tables[0]] });
    v2.tables[0].fields.push({ id: 'fldB', name: 'Age', type: 'number' });
    const m2 = buildBaseMapping('swapped', v2, m1);
    const swap = await prepareSwapSchema(db, 'swapped');
    expect(swap).toBe('swapped_swap');
    await createMirrorTables(db, m2, { schema: swap });
    const outboxBefore = (await db.query(sql('SELECT count(*)::int AS n FROM airmirror.outbox'))).rows[0].n;
    const filled = await fill(m2, swap, 150, { fldB: 33 });
    expect(filled.inserted).toBe(150);
    // swap writes produce no events
    expect((await db.query(sql('SELECT count(*)::int AS n FROM airmirror.outbox'))).rows[0].n).toBe(
      outboxBefore,
    );

    let stop = false;
    const counts: number[] = [];
    const errors: unknown[] = [];
    const reader = (async () => {
      const c = await connectClient(db);
      try {
        while (!stop) {
          try {
            counts.push((await c.query('SELECT count(*)::int AS n FROM swapped.users')).rows[0].n);
          } catch (err) {
            errors.push(err);
          }
        }
      } finally {
        await c.end();
      }
    })();
    while (counts.length < 5) await new Promise((r) => setImmediate(r));
    await promoteSwap(db, 'swapped', m2, m1);
    const seenAt = counts.length;
    while (counts.length < seenAt + 5) await new Promise((r) => setImmediate(r));
    stop = true;
    await reader;

    expect(errors).toEqual([]);
    expect(new Set(counts)).toEqual(new Set([100, 150]));
    expect(counts.at(-1)).toBe(150);
    const rel = await db.query(
      sql(
        `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('swapped', 'swapped_swap') ORDER BY 2`,
      ),
    );
    expect(rel.rows).toEqual([
      { table_schema: 'swapped', table_name: 'foreign_notes' },
      { table_schema: 'swapped', table_name: 'users' },
    ]);
    const age = await db.query(sql(`SELECT age FROM swapped.users WHERE id = 'rec0'`));
    expect(age.rows[0].age).toBe('33');
    const loaded = await loadMapping(db, 'src_swap');
    expect(loaded?.hash).toBe(m2.hash);
    expect(loaded?.tables.map((t) => t.table)).toEqual(['users']);
  });

  it('refuses to promote over a table it does not own, and leaves everything as it was', async () => {
    await addSource('src_clash', 'clash');
    await db.query(sql('CREATE SCHEMA clash'));
    await db.query(sql(`CREATE TABLE clash.users (mine int)`));
    const m = buildBaseMapping('clash', v1);
    const swap = await prepareSwapSchema(db, 'clash');
    await createMirrorTables(db, m, { schema: swap });
    await expect(promoteSwap(db, 'clash', m, undefined)).rejects.toMatchObject({
      code: 'MIRROR_TABLE_CONFLICT',
      status: 409,
    });
    const cols = await db.query(
      sql(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'clash' AND table_name = 'users'`,
      ),
    );
    expect(cols.rows).toEqual([{ column_name: 'mine' }]);
    expect(await cleanupSwap(db, 'clash')).toBe(true);
    expect(await cleanupSwap(db, 'clash')).toBe(false);
    const left = await db.query(sql(`SELECT 1 FROM pg_namespace WHERE nspname = 'clash_swap'`));
    expect(left.rowCount).toBe(0);
  });

  it('writes fenced rows into the swap table anyway and reports them for a refetch', async () => {
    const m = buildBaseMapping('swapped', { tables: [v1.tables[0]] });
    const s0 = await takeFence(db);
    await applyRecords(
      db,
      m.tables[0],
      [{ id: 'recF', createdTime: '2024-01-01T00:00:00.000Z', fields: { fldA: 'proxy' } }],
      {
        origin: 'proxy',
        sourceId: 'src_swap',
        stampFence: true,
      },
    );
    const swap = await prepareSwapSchema(db, 'swapped');
    await createMirrorTables(db, m, { schema: swap });
    const r = await applyRecords(
      db,
      m.tables[0],
      [{ id: 'recF', createdTime: '2024-01-01T00:00:00.000Z', fields: { fldA: 'page' } }],
      {
        origin: 'sweep',
        sourceId: 'src_swap',
        schemaOverride: swap,
        fetchedBefore: s0,
      },
    );
    expect(r).toMatchObject({ inserted: 1, fencedOut: 0, fencedIds: ['recF'] });
    await cleanupSwap(db, 'swapped');
  });
});
