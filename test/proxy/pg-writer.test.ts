import { beforeAll, describe, expect, it } from 'vitest';
import { createPgWriter } from '../../proxy/pg-writer.ts';
import type { BaseSchema } from '../../src/airtable/types.ts';
import { sql } from '../../src/db/sql.ts';
import { UnknownFieldError } from '../../src/mirror/types.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { BASE_ID, mirrorBase, PLACES_SCHEMA } from './fixtures.ts';

const T = 'tblPlaces00000001';
const REC = 'rec560UJdUtocSouk';
const CREATED = '2022-09-12T21:03:48.000Z';

describe('the Postgres mirror writer', () => {
  let t: TestDatabase;
  let sourceId: string;
  const rows = async () =>
    (await t.db.query(sql('SELECT id, name, address, visited, rating FROM public.places ORDER BY id'))).rows;

  beforeAll(async () => {
    t = await createTestDatabase();
    ({ sourceId } = await mirrorBase(t.db, { baseId: BASE_ID, schema: PLACES_SCHEMA }));
  });

  it('applies records keyed by field name to a table addressed by name', async () => {
    const w = createPgWriter({ db: t.db });
    const r = await w.apply({
      baseId: BASE_ID,
      tableIdOrName: 'Places',
      keyedBy: 'name',
      records: [
        {
          id: REC,
          createdTime: CREATED,
          fields: { Name: 'Union Square', Address: '333 Post St', Visited: true },
        },
      ],
    });
    expect(r).toBe('applied');
    expect(await rows()).toEqual([
      { id: REC, name: 'Union Square', address: '333 Post St', visited: true, rating: null },
    ]);
  });

  it('applies records keyed by field id to a table addressed by id; absent fields become NULL', async () => {
    const w = createPgWriter({ db: t.db });
    await w.apply({
      baseId: BASE_ID,
      tableIdOrName: T,
      keyedBy: 'id',
      records: [
        {
          id: REC,
          createdTime: CREATED,
          fields: { fldName0000000001: 'Union Square', fldRating00000001: 4 },
        },
      ],
    });
    expect(await rows()).toEqual([
      { id: REC, name: 'Union Square', address: null, visited: false, rating: '4' },
    ]);
  });

  it('stamps the row fence of written and deleted records (authoritative proxy writes)', async () => {
    const w = createPgWriter({ db: t.db });
    await w.apply({ baseId: BASE_ID, tableIdOrName: T, keyedBy: 'id', deletedIds: [REC] });
    expect(await rows()).toEqual([]);
    const fence = await t.db.query(
      sql('SELECT record_id FROM airmirror.row_fence WHERE source_id = $1 AND table_id = $2', [sourceId, T]),
    );
    expect(fence.rows).toEqual([{ record_id: REC }]);
    const events = await t.db.query<{ op: string; origin: string }>(
      sql('SELECT op, origin FROM airmirror.outbox WHERE record_id = $1 ORDER BY id', [REC]),
    );
    expect(events.rows.map((e) => `${e.op}/${e.origin}`)).toEqual([
      'insert/proxy',
      'update/proxy',
      'delete/proxy',
    ]);
  });

  it('reports a base without a mirror as not-mirrored and writes nothing', async () => {
    const w = createPgWriter({ db: t.db });
    const r = await w.apply({
      baseId: 'appNotMirrored001',
      tableIdOrName: 'Places',
      keyedBy: 'name',
      records: [{ id: 'recOther000000001', createdTime: CREATED, fields: { Name: 'x' } }],
    });
    expect(r).toBe('not-mirrored');
    expect(await rows()).toEqual([]);
  });

  it('reports a source whose mirror is not built yet as pending (owed), and writes nothing', async () => {
    await t.db.query(
      sql(
        `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('src_unbuilt', 'appUnbuilt0000001', 'unbuilt')`,
      ),
    );
    const w = createPgWriter({ db: t.db });
    const r = await w.apply({
      baseId: 'appUnbuilt0000001',
      tableIdOrName: 'Places',
      keyedBy: 'name',
      records: [{ id: 'recOther000000002', createdTime: CREATED, fields: { Name: 'x' } }],
    });
    expect(r).toBe('pending');
    const fenced = await t.db.query(sql(`SELECT 1 FROM airmirror.row_fence WHERE source_id = 'src_unbuilt'`));
    expect(fenced.rows).toEqual([]);
  });

  it('throws on an unknown field name when no schema refresh is available', async () => {
    const w = createPgWriter({ db: t.db });
    await expect(
      w.apply({
        baseId: BASE_ID,
        tableIdOrName: 'Places',
        keyedBy: 'name',
        records: [{ id: REC, createdTime: CREATED, fields: { Nmae: 'typo' } }],
      }),
    ).rejects.toBeInstanceOf(UnknownFieldError);
  });

  it('refreshes the schema on an unknown field or table, then applies', async () => {
    const db2 = await createTestDatabase();
    await mirrorBase(db2.db, { baseId: BASE_ID, schema: PLACES_SCHEMA });
    const grown: BaseSchema = {
      tables: [
        {
          ...PLACES_SCHEMA.tables[0],
          fields: [
            ...PLACES_SCHEMA.tables[0].fields,
            { id: 'fldCity0000000001', name: 'City', type: 'singleLineText' },
          ],
        },
        {
          id: 'tblDistricts00001',
          name: 'Districts',
          primaryFieldId: 'fldDName000000001',
          fields: [{ id: 'fldDName000000001', name: 'Name', type: 'singleLineText' }],
          views: [],
        },
      ],
    };
    const refreshed: string[] = [];
    const w = createPgWriter({
      db: db2.db,
      refreshSchema: async (id) => {
        refreshed.push(id);
        // What the syncer's refresh does: new mapping, new tables/columns, new hash.
        await db2.db.query(sql('ALTER TABLE public.places ADD COLUMN city text'));
        await mirrorBase(db2.db, { baseId: BASE_ID, schema: grown });
      },
    });
    // The first write warms the cached mapping, so the refresh must replace a cached one.
    await w.apply({
      baseId: BASE_ID,
      tableIdOrName: 'Places',
      keyedBy: 'name',
      records: [{ id: REC, createdTime: CREATED, fields: { Name: 'a' } }],
    });
    const r = await w.apply({
      baseId: BASE_ID,
      tableIdOrName: 'Places',
      keyedBy: 'name',
      records: [{ id: REC, createdTime: CREATED, fields: { Name: 'a', City: 'SF' } }],
    });
    expect(r).toBe('applied');
    expect(refreshed).toEqual([`src_${BASE_ID}`]);
    const city = await db2.db.query(sql('SELECT city FROM public.places WHERE id = $1', [REC]));
    expect(city.rows).toEqual([{ city: 'SF' }]);
    const d = await w.apply({
      baseId: BASE_ID,
      tableIdOrName: 'Districts',
      keyedBy: 'name',
      records: [{ id: 'recDistrict000001', createdTime: CREATED, fields: { Name: 'Mission' } }],
    });
    expect(d).toBe('applied');
    expect((await db2.db.query(sql('SELECT name FROM public.districts'))).rows).toEqual([
      { name: 'Mission' },
    ]);
  });

  it('a cached source lookup that predates a rebuild is looked up again, without a refresh', async () => {
    const db3 = await createTestDatabase();
    await mirrorBase(db3.db, { baseId: BASE_ID, schema: PLACES_SCHEMA });
    const w = createPgWriter({ db: db3.db, sourceTtlMs: 60_000 });
    const write = (fields: Record<string, unknown>, table = 'Places') =>
      w.apply({
        baseId: BASE_ID,
        tableIdOrName: table,
        keyedBy: 'name',
        records: [{ id: REC, createdTime: CREATED, fields }],
      });
    expect(await write({ Name: 'cached' })).toBe('applied');
    // Another component (the syncer) changes the layout behind the writer's back.
    await db3.db.query(sql('ALTER TABLE public.places ADD COLUMN city text'));
    await mirrorBase(db3.db, {
      baseId: BASE_ID,
      schema: {
        tables: [
          {
            ...PLACES_SCHEMA.tables[0],
            fields: [
              ...PLACES_SCHEMA.tables[0].fields,
              { id: 'fldCity0000000001', name: 'City', type: 'singleLineText' },
            ],
          },
        ],
      },
    });
    expect(await write({ Name: 'cached', City: 'Oakland' })).toBe('applied');
    const row = await db3.db.query(sql('SELECT city FROM public.places WHERE id = $1', [REC]));
    expect(row.rows).toEqual([{ city: 'Oakland' }]);
    // A table that is still unknown after the fresh lookup, with no refresh available: the write fails (and is queued by the proxy).
    await expect(write({ Name: 'x' }, 'Nowhere')).rejects.toThrow(/not in the mirror mapping/);
  });

  it('a write to a table excluded from the mirror is not-mirrored: no schema refresh, nothing written', async () => {
    const db = t.db;
    const { sourceId: excludedSource, mapping } = await mirrorBase(db, {
      baseId: 'appEXCLUDED000001',
      schema: PLACES_SCHEMA,
      pgSchema: 'excluded_places',
      sourceId: 'src_excluded',
    });
    const { saveMapping } = await import('../../src/mirror/index.ts');
    await saveMapping(db, excludedSource, {
      ...mapping,
      tables: [],
      excludedTables: [{ tableId: T, tableName: 'Places' }],
    });
    await db.query(
      sql('UPDATE airmirror.tables SET mirrored = false WHERE source_id = $1', [excludedSource]),
    );
    let refreshes = 0;
    const w = createPgWriter({
      db,
      refreshSchema: async () => {
        refreshes++;
      },
    });
    const r = await w.apply({
      baseId: 'appEXCLUDED000001',
      tableIdOrName: 'Places',
      keyedBy: 'name',
      records: [{ id: REC, createdTime: CREATED, fields: { Name: 'x' } }],
    });
    expect(r).toBe('not-mirrored');
    expect(refreshes).toBe(0);
  });

  it('a write to a paused table writes nothing and owes the table a full listing when it resumes', async () => {
    const db = t.db;
    const { sourceId: pausedSource } = await mirrorBase(db, {
      baseId: 'appPAUSED00000001',
      schema: PLACES_SCHEMA,
      pgSchema: 'paused_places',
      sourceId: 'src_paused',
    });
    const state = async () =>
      (
        await db.query<{ fill_pending: boolean; rows: number; events: number }>(
          sql(
            `SELECT t.fill_pending, (SELECT count(*)::int FROM paused_places.places) AS rows,
                    (SELECT count(*)::int FROM airmirror.outbox o WHERE o.source_id = $1) AS events
               FROM airmirror.tables t WHERE t.source_id = $1 AND t.table_id = $2`,
            [pausedSource, T],
          ),
        )
      ).rows[0];
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = false, status = 'Paused' WHERE source_id = $1`, [
        pausedSource,
      ]),
    );
    const w = createPgWriter({ db, sourceTtlMs: 0 });
    const write = (name: string) =>
      w.apply({
        baseId: 'appPAUSED00000001',
        tableIdOrName: 'Places',
        keyedBy: 'name',
        records: [{ id: REC, createdTime: CREATED, fields: { Name: name } }],
      });
    expect(await write('while paused')).toBe('paused');
    expect(await state()).toEqual({ fill_pending: true, rows: 0, events: 0 });
    await db.query(
      sql(`UPDATE airmirror.tables SET should_sync = true, status = NULL WHERE source_id = $1`, [
        pausedSource,
      ]),
    );
    expect(await write('resumed')).toBe('applied');
    expect(await state()).toMatchObject({ rows: 1, events: 1 });
  });
});
