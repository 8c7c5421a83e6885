import { beforeAll, describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import {
  applyDeletes,
  applyRecords,
  buildBaseMapping,
  createMirrorTables,
  deleteUnseen,
  pruneFence,
  takeFence,
  UnknownFieldError,
  type TableMapping,
} from '../../src/mirror/index.ts';
import { createTestDatabase, connectClient } from '../support/db.ts';
import { allTypesSchema, fullRecord } from './fixtures.ts';

const SOURCE = 'src_apply';
let db: Database;
let table: TableMapping;
let full: TableMapping;

/** A small table: Name (text), Score (number), Done (checkbox), Tags (multipleSelects). */
const small = buildBaseMapping('mirror', {
  tables: [
    {
      id: 'tblSmall000000001',
      name: 'People',
      primaryFieldId: 'fldName',
      views: [],
      fields: [
        { id: 'fldName', name: 'Name', type: 'singleLineText' },
        { id: 'fldScore', name: 'Score', type: 'number', options: { precision: 2 } },
        { id: 'fldDone', name: 'Done', type: 'checkbox' },
        { id: 'fldTags', name: 'Tags', type: 'multipleSelects', options: { choices: [] } },
      ],
    },
  ],
});

const rec = (
  id: string,
  fields: Record<string, unknown>,
  createdTime = '2024-01-01T00:00:00.000Z',
): AirtableRecord => ({
  id,
  createdTime,
  fields,
});

async function rows(t: TableMapping = table): Promise<Record<string, unknown>[]> {
  const r = await db.query(sql(`SELECT * FROM "${t.schema}"."${t.table}" ORDER BY id`));
  return r.rows;
}

async function outbox(): Promise<Record<string, unknown>[]> {
  const r = await db.query(sql('SELECT * FROM airmirror.outbox ORDER BY id'));
  return r.rows;
}

async function clear(): Promise<void> {
  await db.query(sql(`TRUNCATE "mirror"."people", airmirror.outbox, airmirror.row_fence`));
}

beforeAll(async () => {
  ({ db } = await createTestDatabase());
  await db.query(
    sql(
      `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ($1, 'appAAAAAAAAAAAAAA', 'mirror')`,
      [SOURCE],
    ),
  );
  table = small.tables[0];
  await createMirrorTables(db, small);
  const fullMapping = buildBaseMapping('mirror', allTypesSchema());
  full = fullMapping.tables[0];
  await createMirrorTables(db, fullMapping);
});

describe('applyRecords', () => {
  it('inserts, updates and leaves identical rows alone, with exact counts', async () => {
    await clear();
    const first = await applyRecords(
      db,
      table,
      [rec('recA', { fldName: 'A', fldScore: 1 }), rec('recB', { fldName: 'B' })],
      {
        origin: 'sweep',
        sourceId: SOURCE,
      },
    );
    expect(first).toMatchObject({ inserted: 2, updated: 0, unchanged: 0, fencedOut: 0, cellErrors: 0 });
    expect(first.changedIds.sort()).toEqual(['recA', 'recB']);

    const second = await applyRecords(
      db,
      table,
      [
        rec('recA', { fldName: 'A', fldScore: 1.0 }),
        rec('recB', { fldName: 'B2', fldDone: true }),
        rec('recC', {}),
      ],
      { origin: 'sweep', sourceId: SOURCE },
    );
    expect(second).toMatchObject({ inserted: 1, updated: 1, unchanged: 1, fencedOut: 0 });
    expect(second.changedIds.sort()).toEqual(['recB', 'recC']);
    expect(await rows()).toEqual([
      {
        id: 'recA',
        created_time: new Date('2024-01-01T00:00:00.000Z'),
        name: 'A',
        score: '1',
        done: false,
        tags: null,
      },
      {
        id: 'recB',
        created_time: new Date('2024-01-01T00:00:00.000Z'),
        name: 'B2',
        score: null,
        done: true,
        tags: null,
      },
      {
        id: 'recC',
        created_time: new Date('2024-01-01T00:00:00.000Z'),
        name: null,
        score: null,
        done: false,
        tags: null,
      },
    ]);
  });

  it('writes nothing when a batch is re-applied unchanged (no dead tuples, xmin unchanged)', async () => {
    await clear();
    const batch = Array.from({ length: 250 }, (_, i) =>
      rec(`rec${String(i).padStart(14, '0')}`, {
        fldName: `n${i}`,
        fldScore: i / 3,
        fldTags: ['x', `t${i % 7}`],
        fldDone: i % 2 === 0,
      }),
    );
    await applyRecords(db, table, batch, { origin: 'sweep', sourceId: SOURCE });
    const xmins = async () =>
      (await db.query(sql('SELECT id, xmin::text AS x, ctid::text AS c FROM mirror.people ORDER BY id')))
        .rows;
    const stats = async () =>
      (
        await db.query<{ upd: string; del: string }>(
          sql(
            `SELECT n_tup_upd::text AS upd, n_tup_del::text AS del FROM pg_stat_user_tables WHERE schemaname = 'mirror' AND relname = 'people'`,
          ),
        )
      ).rows[0];
    await db.query(sql('SELECT pg_stat_force_next_flush()'));
    const before = { x: await xmins(), s: await stats(), o: (await outbox()).length };
    const again = await applyRecords(db, table, structuredClone(batch), {
      origin: 'sweep',
      sourceId: SOURCE,
    });
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 250, changedIds: [] });
    await db.query(sql('SELECT pg_stat_force_next_flush()'));
    expect(await xmins()).toEqual(before.x);
    expect(await stats()).toEqual(before.s);
    expect((await outbox()).length).toBe(before.o);
  });

  it('writes one outbox event per real change with before, after and changed columns, and notifies', async () => {
    await clear();
    const listener = await connectClient(db);
    const notes: string[] = [];
    listener.on('notification', (n) => notes.push(n.channel));
    await listener.query('LISTEN airmirror_outbox');
    try {
      await applyRecords(db, table, [rec('recA', { fldName: 'A', fldTags: ['x'] })], {
        origin: 'proxy',
        sourceId: SOURCE,
      });
      await applyRecords(db, table, [rec('recA', { fldName: 'A', fldTags: ['x', 'y'], fldScore: 2 })], {
        origin: 'sweep',
        sourceId: SOURCE,
      });
      await applyRecords(db, table, [rec('recA', { fldName: 'A', fldTags: ['x', 'y'], fldScore: 2 })], {
        origin: 'sweep',
        sourceId: SOURCE,
      });
      await applyDeletes(db, table, ['recA', 'recMissing'], { origin: 'webhook', sourceId: SOURCE });
      await listener.query('SELECT 1'); // let pending notifications arrive
    } finally {
      await listener.end();
    }
    const ev = await outbox();
    expect(ev.map((e) => [e.op, e.origin, e.record_id])).toEqual([
      ['insert', 'proxy', 'recA'],
      ['update', 'sweep', 'recA'],
      ['delete', 'webhook', 'recA'],
    ]);
    expect(ev[0]).toMatchObject({
      source_id: SOURCE,
      table_id: table.tableId,
      mirror_schema: 'mirror',
      mirror_table: 'people',
      before: null,
      changed_columns: null,
      after: {
        id: 'recA',
        created_time: '2024-01-01T00:00:00+00:00',
        name: 'A',
        score: null,
        done: false,
        tags: ['x'],
      },
    });
    expect(ev[1].before).toMatchObject({ score: null, tags: ['x'] });
    expect(ev[1].after).toMatchObject({ score: 2, tags: ['x', 'y'] });
    expect((ev[1].changed_columns as string[]).sort()).toEqual(['score', 'tags']);
    expect(ev[2]).toMatchObject({ after: null, before: { id: 'recA', name: 'A', score: 2 } });
    expect(notes).toEqual(['airmirror_outbox', 'airmirror_outbox', 'airmirror_outbox']);
  });

  it('applies records keyed by field name, and refuses unknown names before writing anything', async () => {
    await clear();
    const r = await applyRecords(db, table, [rec('recN', { Name: 'By name', Done: true })], {
      origin: 'proxy',
      sourceId: SOURCE,
      keyedBy: 'name',
    });
    expect(r.inserted).toBe(1);
    expect((await rows())[0]).toMatchObject({ name: 'By name', done: true });
    await expect(
      applyRecords(db, table, [rec('recM', { Name: 'ok' }), rec('recO', { Nope: 1 })], {
        origin: 'proxy',
        sourceId: SOURCE,
        keyedBy: 'name',
      }),
    ).rejects.toBeInstanceOf(UnknownFieldError);
    expect((await rows()).map((x) => x.id)).toEqual(['recN']);
  });

  it('counts cell errors and stores NULL instead of failing the batch', async () => {
    await clear();
    const r = await applyRecords(
      db,
      table,
      [rec('recE', { fldName: 'E', fldScore: 'not a number', fldTags: 'x' })],
      {
        origin: 'sweep',
        sourceId: SOURCE,
      },
    );
    expect(r).toMatchObject({ inserted: 1, cellErrors: 2 });
    expect((await rows())[0]).toMatchObject({ name: 'E', score: null, tags: null });
  });

  it('takes the last of duplicate ids in one batch', async () => {
    await clear();
    const r = await applyRecords(
      db,
      table,
      [rec('recD', { fldName: 'one' }), rec('recD', { fldName: 'two' })],
      {
        origin: 'sweep',
        sourceId: SOURCE,
      },
    );
    expect(r).toMatchObject({ inserted: 1, updated: 0, unchanged: 0 });
    expect((await rows())[0].name).toBe('two');
  });

  it('round-trips every field type of the reference through Postgres', async () => {
    const r = await applyRecords(db, full, [fullRecord()], { origin: 'sweep', sourceId: SOURCE });
    expect(r).toMatchObject({ inserted: 1, cellErrors: 0 });
    const row = (await rows(full))[0];
    expect(row).toMatchObject({
      id: 'rec560UJdUtocSouk',
      name: 'Union Square',
      number: '0.1234567891234',
      currency: '19.99',
      rating: 4,
      done: true,
      due: expect.any(Date),
      tags: ['One', 'Two'],
      district: ['rec3lbPRG4aVqkeOQ'],
      owner: { id: 'usr00000000000000', email: 'foo@bar.com', name: 'Foo' },
      lookup_multi_select: ['One', 'Two'],
      auto: 42,
      formula_na_n: '7',
      mystery: { some: ['thing'] },
    });
    const due = await db.query<{ d: string }>(sql('SELECT due::text AS d FROM mirror.apartments'));
    expect(due.rows[0].d).toBe('2024-02-29');
    const again = await applyRecords(db, full, [fullRecord()], { origin: 'sweep', sourceId: SOURCE });
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 1 });
  });

  it('is not confused by columns named like the aliases of its own statements', async () => {
    const names = ['m', 'u', 'd', 'c', 's', 'f', 'x', 'i', 't', 'existed', 'before', 'changed', 'fenced'];
    names.push('cur', 'e', 'notify_once', 'any_change', 'notified', 'fence_v', 'fence_w', 'fence_r');
    const mapping = buildBaseMapping('aliases', {
      tables: [
        {
          id: 'tblAliases0000001',
          name: 'Aliases',
          primaryFieldId: 'fld0',
          views: [],
          fields: names.map((name, k) => ({ id: `fld${k}`, name, type: 'singleLineText' })),
        },
      ],
    });
    await createMirrorTables(db, mapping);
    const t = mapping.tables[0];
    const values = (v: string) => Object.fromEntries(names.map((_, k) => [`fld${k}`, `${v}${k}`]));
    // Every statement shape: a fenced page, an authoritative (fence-stamping) write and delete.
    await applyRecords(db, t, [rec('recZ', values('a'))], {
      origin: 'sweep',
      sourceId: SOURCE,
      fetchedBefore: await takeFence(db),
    });
    const r = await applyRecords(db, t, [rec('recZ', { ...values('a'), fld0: 'changed' })], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    expect(r).toMatchObject({ updated: 1 });
    await applyDeletes(db, t, ['recZ'], { origin: 'proxy', sourceId: SOURCE, stampFence: true });
    const ev = (await outbox()).filter((e) => e.mirror_schema === 'aliases');
    expect(ev.map((e) => e.op)).toEqual(['insert', 'update', 'delete']);
    expect(ev[0].after).toMatchObject({ id: 'recZ', m: 'a0', u: 'a1', d: 'a2', existed: 'a9' });
    expect(ev[1].before).toMatchObject({ id: 'recZ', m: 'a0' });
    expect(ev[1].after).toMatchObject({ id: 'recZ', m: 'changed', before: 'a10' });
    expect(ev[1].changed_columns).toEqual(['m']);
    expect(ev[2].before).toMatchObject({ id: 'recZ', m: 'changed', d: 'a2' });
  });

  it('handles batches larger than one statement chunk', async () => {
    await clear();
    const batch = Array.from({ length: 4500 }, (_, i) =>
      rec(`recBig${i}`, { fldName: `n${i}`, fldScore: i }),
    );
    const r = await applyRecords(db, table, batch, { origin: 'sweep', sourceId: SOURCE });
    expect(r).toMatchObject({ inserted: 4500, unchanged: 0 });
    expect(r.changedIds).toHaveLength(4500);
    const count = await db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM mirror.people'));
    expect(count.rows[0].n).toBe(4500);
  });
});

describe('the row fence', () => {
  it('skips rows of a page fetched before a proxy write', async () => {
    await clear();
    await applyRecords(db, table, [rec('recA', { fldName: 'old' }), rec('recB', { fldName: 'old' })], {
      origin: 'sweep',
      sourceId: SOURCE,
    });
    const s0 = await takeFence(db); // the sweep takes its fence, then fetches a page (old values)
    await applyRecords(db, table, [rec('recA', { fldName: 'from proxy' })], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    const page = await applyRecords(
      db,
      table,
      [rec('recA', { fldName: 'old' }), rec('recB', { fldName: 'newer from page' })],
      { origin: 'sweep', sourceId: SOURCE, fetchedBefore: s0 },
    );
    expect(page).toMatchObject({ fencedOut: 1, updated: 1, unchanged: 0, fencedIds: ['recA'] });
    expect((await rows()).map((r) => [r.id, r.name])).toEqual([
      ['recA', 'from proxy'],
      ['recB', 'newer from page'],
    ]);
    // A page fetched after the proxy write applies normally.
    const s1 = await takeFence(db);
    const later = await applyRecords(db, table, [rec('recA', { fldName: 'edited in Airtable' })], {
      origin: 'sweep',
      sourceId: SOURCE,
      fetchedBefore: BigInt(s1),
    });
    expect(later).toMatchObject({ fencedOut: 0, updated: 1 });
  });

  it('does not resurrect a row deleted through the proxy from an older page', async () => {
    await clear();
    await applyRecords(db, table, [rec('recA', { fldName: 'x' })], { origin: 'sweep', sourceId: SOURCE });
    const s0 = await takeFence(db);
    const del = await applyDeletes(db, table, ['recA'], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    expect(del).toMatchObject({ deleted: 1, ids: ['recA'] });
    const page = await applyRecords(db, table, [rec('recA', { fldName: 'x' })], {
      origin: 'sweep',
      sourceId: SOURCE,
      fetchedBefore: s0,
    });
    expect(page).toMatchObject({ inserted: 0, fencedOut: 1 });
    expect(await rows()).toEqual([]);
  });

  it('deleteUnseen spares rows created mid-listing and rows seen, and deletes the rest', async () => {
    await clear();
    await applyRecords(
      db,
      table,
      ['recA', 'recB', 'recC'].map((id) => rec(id, { fldName: id })),
      {
        origin: 'sweep',
        sourceId: SOURCE,
      },
    );
    const listingFence = await takeFence(db);
    await applyRecords(db, table, [rec('recNew', { fldName: 'created through proxy mid-listing' })], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    const r = await deleteUnseen(db, table, new Set(['recA']), {
      sourceId: SOURCE,
      origin: 'sweep',
      listingFence,
    });
    expect(r.deleted).toBe(2);
    expect(r.ids.sort()).toEqual(['recB', 'recC']);
    expect((await rows()).map((x) => x.id)).toEqual(['recA', 'recNew']);
    const ev = (await outbox()).filter((e) => e.op === 'delete');
    expect(ev.map((e) => e.record_id).sort()).toEqual(['recB', 'recC']);
    expect(ev.every((e) => e.origin === 'sweep' && e.before !== null)).toBe(true);
  });

  it('deleteUnseen scales to a large listing', async () => {
    await clear();
    const ids = Array.from({ length: 20_000 }, (_, i) => `recL${i}`);
    await applyRecords(
      db,
      table,
      ids.map((id) => rec(id, {})),
      { origin: 'sweep', sourceId: SOURCE },
    );
    const fence = await takeFence(db);
    const r = await deleteUnseen(db, table, ids.slice(1), {
      sourceId: SOURCE,
      origin: 'sweep',
      listingFence: fence,
    });
    expect(r.ids).toEqual(['recL0']);
  });

  it('a delete phase with an older fence than a page does not delete what the proxy fenced', async () => {
    await clear();
    const fence = await takeFence(db);
    await applyDeletes(db, table, ['recGone'], { origin: 'proxy', sourceId: SOURCE, stampFence: true });
    await applyRecords(db, table, [rec('recP', {})], {
      origin: 'webhook',
      sourceId: SOURCE,
      stampFence: true,
    });
    const r = await deleteUnseen(db, table, [], { sourceId: SOURCE, origin: 'sweep', listingFence: fence });
    expect(r.deleted).toBe(0);
  });

  it('applyDeletes from an older payload spares rows written through the proxy since', async () => {
    await clear();
    await applyRecords(db, table, [rec('recA', {}), rec('recB', {})], { origin: 'sweep', sourceId: SOURCE });
    const s0 = await takeFence(db);
    await applyRecords(db, table, [rec('recA', { fldName: 'recreated' })], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    const r = await applyDeletes(db, table, ['recA', 'recB'], {
      origin: 'incremental',
      sourceId: SOURCE,
      fetchedBefore: s0,
    });
    expect(r).toEqual({ deleted: 1, ids: ['recB'] });
    expect((await rows()).map((x) => x.id)).toEqual(['recA']);
  });

  it('rolls back the whole call when a statement fails, leaving no rows, events or fences', async () => {
    await clear();
    const broken = { ...table, table: 'no_such_table' };
    await expect(
      applyRecords(db, broken, [rec('recA', {})], { origin: 'proxy', sourceId: SOURCE, stampFence: true }),
    ).rejects.toThrow(/no_such_table/);
    expect(await outbox()).toEqual([]);
    expect((await db.query(sql('SELECT * FROM airmirror.row_fence'))).rows).toEqual([]);
  });

  it('pruneFence forgets old stamps only', async () => {
    await clear();
    await applyRecords(db, table, [rec('recA', {}), rec('recB', {})], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    await db.query(
      sql(`UPDATE airmirror.row_fence SET at = now() - interval '2 hours' WHERE record_id = 'recA'`),
    );
    const n = await pruneFence(db, SOURCE, table.tableId, new Date(Date.now() - 3600_000));
    expect(n).toBe(1);
    const left = await db.query(sql('SELECT record_id FROM airmirror.row_fence'));
    expect(left.rows).toEqual([{ record_id: 'recB' }]);
  });

  it('takeFence returns increasing values as strings', async () => {
    const a = await takeFence(db);
    const b = await takeFence(db);
    expect(typeof a).toBe('string');
    expect(BigInt(b)).toBeGreaterThan(BigInt(a));
  });
});

describe('the row count', () => {
  it('is kept current by the write path itself: inserts and deletes count, an unchanged write touches nothing', async () => {
    await clear();
    await db.query(
      sql(
        `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table, row_count)
         VALUES ('t-people', $1, $2, 'People', 'people', 0) ON CONFLICT (source_id, table_id) DO UPDATE SET row_count = 0`,
        [SOURCE, table.tableId],
      ),
    );
    const count = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            sql('SELECT row_count::text AS n FROM airmirror.tables WHERE source_id = $1 AND table_id = $2', [
              SOURCE,
              table.tableId,
            ]),
          )
        ).rows[0].n,
      );
    const version = async () =>
      (
        await db.query<{ v: string }>(
          sql('SELECT xmin::text AS v FROM airmirror.tables WHERE source_id = $1 AND table_id = $2', [
            SOURCE,
            table.tableId,
          ]),
        )
      ).rows[0].v;
    await applyRecords(db, table, [rec('recA', { fldName: 'A' }), rec('recB', {}), rec('recC', {})], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    expect(await count()).toBe(3);
    const v = await version();
    // An update and an identical write change no count, and do not touch the bookkeeping row.
    await applyRecords(db, table, [rec('recA', { fldName: 'A2' }), rec('recB', {})], {
      origin: 'sweep',
      sourceId: SOURCE,
    });
    expect(await count()).toBe(3);
    expect(await version()).toBe(v);
    await applyDeletes(db, table, ['recA', 'recZ'], { origin: 'proxy', sourceId: SOURCE, stampFence: true });
    expect(await count()).toBe(2);
    const fence = await takeFence(db);
    await deleteUnseen(db, table, ['recB'], { sourceId: SOURCE, origin: 'sweep', listingFence: fence });
    expect(await count()).toBe(1);
    const real = await db.query<{ n: number }>(sql('SELECT count(*)::int AS n FROM mirror.people'));
    expect(real.rows[0].n).toBe(1);
  });
});
