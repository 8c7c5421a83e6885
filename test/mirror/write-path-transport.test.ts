import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import {
  applyDeletes,
  applyRecords,
  buildBaseMapping,
  createMirrorTables,
  takeFence,
  type TableMapping,
} from '../../src/mirror/index.ts';
import { createTestDatabase, connectClient } from '../support/db.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * How the write path reaches Postgres: pipelined transactions (BEGIN, lock, statement, COMMIT in
 * one round trip), prepared statements for small batches, and the fence stamp and NOTIFY folded
 * into the write statement. Each test pins a property the single write path relies on.
 */
const SOURCE = 'src_transport';
let db: Database;
let url: string;
/** A one-connection Database, so per-connection state (prepared statements) can be inspected. */
let single: Database;
let table: TableMapping;

const mapping = buildBaseMapping('transport', {
  tables: [
    {
      id: 'tblTransport00001',
      name: 'Things',
      primaryFieldId: 'fldName',
      views: [],
      fields: [
        { id: 'fldName', name: 'Name', type: 'singleLineText' },
        { id: 'fldScore', name: 'Score', type: 'number', options: { precision: 0 } },
      ],
    },
  ],
});

const rec = (id: string, fields: Record<string, unknown>): AirtableRecord => ({
  id,
  createdTime: '2024-01-01T00:00:00.000Z',
  fields,
});

const names = async (q: Database = db) =>
  (
    await q.query<{ id: string; name: string | null }>(
      sql('SELECT id, name FROM transport.things ORDER BY id'),
    )
  ).rows;

beforeAll(async () => {
  ({ db, url } = await createTestDatabase());
  single = createDatabase(url, { max: 1 });
  table = mapping.tables[0];
  await createMirrorTables(db, mapping);
});
afterAll(() => single.close());

async function clear(): Promise<void> {
  await db.query(sql('TRUNCATE transport.things, airmirror.outbox, airmirror.row_fence'));
}

describe('txPipeline', () => {
  it('runs the statements in order in one transaction and returns their results', async () => {
    await clear();
    const r = await db.txPipeline!([
      sql(`INSERT INTO transport.things (id, created_time, name) VALUES ($1, now(), 'a') RETURNING id`, [
        'recP1',
      ]),
      sql('SELECT txid_current()::text AS x, (SELECT count(*)::int FROM transport.things) AS n'),
      sql('SELECT txid_current()::text AS x'),
    ]);
    expect(r.map((x) => x.rows[0])).toEqual([
      { id: 'recP1' },
      { x: r[2].rows[0].x, n: 1 }, // sees the insert before it, in the same transaction
      { x: r[1].rows[0].x },
    ]);
    expect(await names()).toEqual([{ id: 'recP1', name: 'a' }]);
  });

  it('rolls everything back when a statement fails, throws that statement’s error, and leaves the connection idle', async () => {
    await clear();
    const failing = single.txPipeline!([
      sql(`INSERT INTO transport.things (id, created_time, name) VALUES ('recP2', now(), 'b')`),
      sql('SELECT * FROM transport.no_such_table'),
      sql(`INSERT INTO transport.things (id, created_time, name) VALUES ('recP3', now(), 'c')`),
    ]);
    await expect(failing).rejects.toMatchObject({ code: '42P01' }); // the cause, not 25P02 "aborted"
    expect(await names()).toEqual([]);
    // The one connection was handed back outside any transaction: this insert commits on its own.
    await single.query(
      sql(`INSERT INTO transport.things (id, created_time, name) VALUES ('recP4', now(), 'd')`),
    );
    expect(await names()).toEqual([{ id: 'recP4', name: 'd' }]);
  });

  it('without pipeline mode gives the same results, one statement at a time', async () => {
    await clear();
    const plain = createDatabase(url, { max: 1, pipeline: false });
    try {
      const r = await plain.txPipeline!([
        sql(`INSERT INTO transport.things (id, created_time, name) VALUES ('recP5', now(), 'e')`),
        sql('SELECT count(*)::int AS n FROM transport.things'),
      ]);
      expect(r[1].rows).toEqual([{ n: 1 }]);
      await expect(
        plain.txPipeline!([
          sql(`INSERT INTO transport.things (id, created_time, name) VALUES ('recP6', now(), 'f')`),
          sql('SELECT 1/0'),
        ]),
      ).rejects.toMatchObject({ code: '22012' });
      expect(await names()).toEqual([{ id: 'recP5', name: 'e' }]);
    } finally {
      await plain.close();
    }
  });
});

describe('the advisory lock comes before the write statement’s snapshot', () => {
  it('a page applied while a proxy write holds the table lock sees that write’s fence once it gets the lock', async () => {
    await clear();
    await applyRecords(db, table, [rec('recL', { fldName: 'old' })], { origin: 'sweep', sourceId: SOURCE });
    const s0 = await takeFence(db); // the sweep takes its fence and fetches a page ('page')

    // A proxy write in flight: it holds the table's lock, has written and fenced its row, and has
    // not committed yet.
    const proxy = await connectClient(db);
    try {
      await proxy.query('BEGIN');
      await proxy.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `airmirror:${SOURCE}:${table.tableId}`,
      ]);
      await proxy.query(`UPDATE transport.things SET name = 'from proxy' WHERE id = 'recL'`);
      await proxy.query(
        `INSERT INTO airmirror.row_fence (source_id, table_id, record_id, fence)
         VALUES ($1, $2, 'recL', nextval('airmirror.fence_seq'))`,
        [SOURCE, table.tableId],
      );

      const page = applyRecords(db, table, [rec('recL', { fldName: 'page' })], {
        origin: 'sweep',
        sourceId: SOURCE,
        fetchedBefore: s0,
      });
      // Wait until the page's transaction is queued on the lock, then let the proxy commit.
      await waitUntil(
        async () =>
          (
            await db.query<{ n: number }>(
              sql(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`),
            )
          ).rows[0].n > 0,
        { what: 'the page to wait for the lock', intervalMs: 5 },
      );
      await proxy.query('COMMIT');
      // Had the page's statement taken its snapshot before the lock was granted, it would not see
      // the fence and would overwrite the committed proxy write with 'page'.
      expect(await page).toMatchObject({ fencedOut: 1, updated: 0, fencedIds: ['recL'] });
    } finally {
      await proxy.end();
    }
    expect(await names()).toEqual([{ id: 'recL', name: 'from proxy' }]);
  });
});

describe('statement shapes', () => {
  it('stamps every record of an authoritative write with one fresh fence value, in the same transaction', async () => {
    await clear();
    const before = await takeFence(db);
    await applyRecords(
      db,
      table,
      ['recF1', 'recF2', 'recF3'].map((id) => rec(id, { fldName: id })),
      { origin: 'proxy', sourceId: SOURCE, stampFence: true },
    );
    await applyDeletes(db, table, ['recF3', 'recGone'], {
      origin: 'proxy',
      sourceId: SOURCE,
      stampFence: true,
    });
    const fences = (
      await db.query<{ record_id: string; fence: number }>(
        sql('SELECT record_id, fence FROM airmirror.row_fence ORDER BY record_id'),
      )
    ).rows;
    expect(fences.map((f) => f.record_id)).toEqual(['recF1', 'recF2', 'recF3', 'recGone']);
    const [f1, f2, f3, gone] = fences.map((f) => BigInt(f.fence));
    expect(f1).toBeGreaterThan(BigInt(before));
    expect(f2).toBe(f1);
    expect(f3).toBe(gone); // the delete's tombstones share their own value
    expect(f3).toBeGreaterThan(f1);
  });

  it('fences pages bigger than a small batch the same way as small ones', async () => {
    await clear();
    const ids = Array.from({ length: 150 }, (_, i) => `recB${String(i).padStart(3, '0')}`);
    await applyRecords(
      db,
      table,
      ids.map((id) => rec(id, { fldName: 'old' })),
      { origin: 'sweep', sourceId: SOURCE },
    );
    const s0 = await takeFence(db);
    await applyRecords(
      db,
      table,
      ids.slice(0, 120).map((id) => rec(id, { fldName: 'from proxy' })),
      { origin: 'proxy', sourceId: SOURCE, stampFence: true },
    );
    const page = await applyRecords(
      db,
      table,
      ids.map((id) => rec(id, { fldName: 'page' })),
      { origin: 'sweep', sourceId: SOURCE, fetchedBefore: s0 },
    );
    expect(page).toMatchObject({ fencedOut: 120, updated: 30, unchanged: 0 });
    const rows = await names();
    expect(rows.filter((r) => r.name === 'from proxy')).toHaveLength(120);
    expect(rows.filter((r) => r.name === 'page').map((r) => r.id)).toEqual(ids.slice(120));
  });

  it('does not notify when nothing changed, and notifies for a delete', async () => {
    await clear();
    await applyRecords(db, table, [rec('recN', { fldName: 'n' })], { origin: 'sweep', sourceId: SOURCE });
    const listener = await connectClient(db);
    const notes: string[] = [];
    listener.on('notification', (n) => notes.push(n.channel));
    await listener.query('LISTEN airmirror_outbox');
    try {
      await applyRecords(db, table, [rec('recN', { fldName: 'n' })], {
        origin: 'proxy',
        sourceId: SOURCE,
        stampFence: true,
      });
      await applyDeletes(db, table, ['recMissing'], { origin: 'proxy', sourceId: SOURCE, stampFence: true });
      await listener.query('SELECT 1');
      expect(notes).toEqual([]);
      await applyDeletes(db, table, ['recN'], { origin: 'proxy', sourceId: SOURCE, stampFence: true });
      await listener.query('SELECT 1');
      expect(notes).toEqual(['airmirror_outbox']);
    } finally {
      await listener.query('UNLISTEN *');
      await listener.end();
    }
  });
});

describe('prepared statements', () => {
  const prepared = async () =>
    (
      await single.query<{ n: number }>(
        sql(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'airmirror_w%'`),
      )
    ).rows[0].n;

  it('are not used when switched off (poolers that cannot keep them)', async () => {
    await clear();
    const plain = createDatabase(url, { max: 1, preparedStatements: false });
    try {
      for (let i = 0; i < 2; i++) {
        await applyRecords(plain, table, [rec('recP', { fldName: `p${i}` })], {
          origin: 'proxy',
          sourceId: SOURCE,
          stampFence: true,
        });
      }
      const n = await plain.query<{ n: number }>(
        sql(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'airmirror_w%'`),
      );
      expect(n.rows[0].n).toBe(0);
      expect(await names()).toEqual([{ id: 'recP', name: 'p1' }]);
    } finally {
      await plain.close();
    }
  });

  it('are shared by equal mappings: reloading a mapping does not prepare its statements again', async () => {
    await clear();
    const start = await prepared();
    for (let i = 0; i < 3; i++) {
      const reloaded = structuredClone(table); // what loadMapping hands out on each call
      await applyRecords(single, reloaded, [rec('recS', { fldName: `v${i}` })], {
        origin: 'proxy',
        sourceId: SOURCE,
        stampFence: true,
      });
    }
    expect(await prepared()).toBe(start + 1);
    expect(await names()).toEqual([{ id: 'recS', name: 'v2' }]);
  });

  it('follow the table when it is replaced, and fail as layout drift when a column is gone', async () => {
    const t = buildBaseMapping('transport2', {
      tables: [
        {
          id: 'tblTransport00002',
          name: 'Swapped',
          primaryFieldId: 'fldName',
          views: [],
          fields: [{ id: 'fldName', name: 'Name', type: 'singleLineText' }],
        },
      ],
    });
    await createMirrorTables(single, t);
    const write = (v: string) =>
      applyRecords(single, t.tables[0], [rec('recD', { fldName: v })], {
        origin: 'proxy',
        sourceId: SOURCE,
        stampFence: true,
      });
    await write('one');
    // A rebuild's promote replaces the table by one of the same layout.
    await single.query(sql('DROP TABLE transport2.swapped'));
    await createMirrorTables(single, t);
    await expect(write('two')).resolves.toMatchObject({ inserted: 1 });
    // A column the mapping still names is gone: undefined_column, which the proxy treats as drift.
    await single.query(sql('ALTER TABLE transport2.swapped DROP COLUMN name'));
    await expect(write('three')).rejects.toMatchObject({ code: '42703' });
    const rows = await single.query(sql('SELECT id FROM transport2.swapped'));
    expect(rows.rows).toEqual([{ id: 'recD' }]);
  });
});
