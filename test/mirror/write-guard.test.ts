/**
 * The direct-write guard (src/mirror/write-guard.ts, issue 15): a write to a mirror table on a
 * plain Postgres session fails with an error pointing to the endpoint and the proxy; airmirror's
 * own sessions write as before, with no statement added to the write path; the operator can turn
 * the check off; tables get the trigger when they are created live, promoted, or (migration 015)
 * already existed.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, WriteTarget } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { migrations } from '../../src/db/migrations/index.ts';
import type { Sql } from '../../src/db/sql.ts';
import { sql } from '../../src/db/sql.ts';
import {
  applyRecords,
  buildBaseMapping,
  buildSwapSchema,
  createMirrorTables,
  emptyMirrorTable,
  promoteSwap,
  saveMapping,
} from '../../src/mirror/index.ts';
import { createTableStatements } from '../../src/mirror/ddl.ts';
import { setWriteGuard } from '../../src/mirror/write-guard.ts';
import { createTestDatabase } from '../support/db.ts';

const mapping = buildBaseMapping('guarded', {
  tables: [
    {
      id: 'tblGuarded0000001',
      name: 'Things',
      primaryFieldId: 'fldName',
      views: [],
      fields: [{ id: 'fldName', name: 'Name', type: 'singleLineText' }],
    },
  ],
});
const table = mapping.tables[0];

let db: Database;
let url: string;
let plain: pg.Client;

beforeAll(async () => {
  ({ db, url } = await createTestDatabase());
  await db.query(
    sql(
      `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('src_g', 'appGuarded0000001', 'guarded')`,
    ),
  );
  await createMirrorTables(db, mapping);
  await saveMapping(db, 'src_g', mapping);
  await applyRecords(
    db,
    table,
    [{ id: 'recA', createdTime: '2024-01-01T00:00:00.000Z', fields: { fldName: 'a' } }],
    {
      origin: 'sweep',
      sourceId: 'src_g',
    },
  );
  plain = new pg.Client(url);
  await plain.connect();
});
afterAll(() => plain?.end());

async function refused(text: string): Promise<pg.DatabaseError> {
  try {
    await plain.query(text);
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error(`${text} was not refused`);
}

describe('a plain session', () => {
  it.each([
    ['UPDATE', `UPDATE guarded.things SET name = 'x'`],
    ['INSERT', `INSERT INTO guarded.things (id, created_time) VALUES ('recB', now())`],
    ['DELETE', `DELETE FROM guarded.things`],
    ['TRUNCATE', `TRUNCATE guarded.things`],
  ])('%s is refused with 42501, naming the endpoint and the proxy', async (op, text) => {
    const err = await refused(text);
    expect(err.code).toBe('42501');
    expect(err.message).toBe(`${op} on mirror table guarded.things bypasses airmirror`);
    expect(err.detail).toContain('the next sync undoes it');
    expect(err.hint).toContain('Postgres endpoint');
    expect(err.hint).toContain('HTTP proxy');
  });

  it('COPY into a mirror table is refused too', async () => {
    // The statement trigger fires before COPY reads a line.
    const err = await refused(`COPY guarded.things (id, created_time) FROM PROGRAM 'echo x'`);
    expect(err.code).toBe('42501');
    expect(err.message).toBe('INSERT on mirror table guarded.things bypasses airmirror');
  });

  it('reads are untouched', async () => {
    expect((await plain.query('SELECT name FROM guarded.things')).rows).toEqual([{ name: 'a' }]);
  });

  it('a session that says it is airmirror may write (a guard against mistakes, not a boundary)', async () => {
    await plain.query('BEGIN');
    await plain.query(`SET LOCAL airmirror.writer = 'on'`);
    await plain.query(`UPDATE guarded.things SET name = 'by hand'`);
    await plain.query('ROLLBACK');
  });
});

describe("airmirror's own writes", () => {
  it('its Database connections are exempt (tests and tools write through them)', async () => {
    await db.query(sql(`UPDATE guarded.things SET name = name`));
  });

  it('emptying a mirror table (the API’s delete-data) is airmirror’s own write, even without the startup option', async () => {
    const bare = new pg.Client(url);
    await bare.connect();
    try {
      await emptyMirrorTable(
        { query: (q: Sql) => bare.query(q.text, q.values) as never },
        'guarded',
        'things',
      );
    } finally {
      await bare.end();
    }
    expect((await plain.query('SELECT count(*)::int AS n FROM guarded.things')).rows[0].n).toBe(0);
    await applyRecords(
      db,
      table,
      [{ id: 'recA', createdTime: '2024-01-01T00:00:00.000Z', fields: { fldName: 'a' } }],
      {
        origin: 'sweep',
        sourceId: 'src_g',
      },
    );
  });

  it('the write path needs no startup option (poolers drop them) and adds no statement', async () => {
    const bare = new pg.Client(url);
    await bare.connect();
    try {
      const statements: string[] = [];
      const target: WriteTarget = {
        query: (q: Sql) => {
          statements.push(q.text);
          return bare.query(q.text, q.values) as never;
        },
        tx: async (fn) => {
          await bare.query('BEGIN');
          try {
            const out = await fn({ query: (q: Sql) => target.query(q) });
            await bare.query('COMMIT');
            return out;
          } catch (err) {
            await bare.query('ROLLBACK');
            throw err;
          }
        },
      };
      await applyRecords(
        target,
        table,
        [{ id: 'recA', createdTime: '2024-01-01T00:00:00.000Z', fields: { fldName: 'b' } }],
        {
          origin: 'proxy',
          sourceId: 'src_g',
          stampFence: true,
        },
      );
      expect(statements).toHaveLength(2); // the table lock (which also marks the writer) and the upsert
      expect((await plain.query('SELECT name FROM guarded.things')).rows).toEqual([{ name: 'b' }]);
    } finally {
      await bare.end();
    }
  });
});

describe('turning it off and on', () => {
  it('AIRMIRROR_PG_WRITE_GUARD=off lets direct writes through', async () => {
    await setWriteGuard(db, false);
    try {
      await plain.query(`UPDATE guarded.things SET name = 'allowed'`);
    } finally {
      await setWriteGuard(db, true);
    }
    expect((await refused(`UPDATE guarded.things SET name = 'x'`)).code).toBe('42501');
  });
});

describe('which tables have it', () => {
  const triggers = async (schema: string) =>
    (
      await db.query<{ relname: string }>(
        sql(
          `SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname = 'airmirror_guard' AND n.nspname = $1`,
          [schema],
        ),
      )
    ).rows.map((r) => r.relname);

  it('a rebuild: the swap tables have none while they fill, the promoted ones have it', async () => {
    const next = buildBaseMapping('guarded', {
      tables: [
        {
          id: 'tblGuarded0000001',
          name: 'Things',
          primaryFieldId: 'fldName',
          views: [],
          fields: [
            { id: 'fldName', name: 'Name', type: 'singleLineText' },
            { id: 'fldMore', name: 'More', type: 'number' },
          ],
        },
      ],
    });
    const swap = await buildSwapSchema(db, 'guarded', next);
    expect(await triggers(swap)).toEqual([]);
    await promoteSwap(db, 'guarded', next, mapping, { sourceId: 'src_g' });
    expect(await triggers('guarded')).toEqual(['things']);
  });

  it('migration 015 guards mirror tables that existed before it', async () => {
    const t = await createTestDatabase({ migrate: false });
    await migrate(
      t.db,
      migrations.filter((m) => m.version < 15),
    );
    await t.db.query(
      sql(
        `INSERT INTO airmirror.sources (id, base_id, schema_name) VALUES ('src_o', 'appOld00000000001', 'old')`,
      ),
    );
    await t.db.query(sql('CREATE SCHEMA old'));
    await t.db.query(sql(createTableStatements({ ...table, schema: 'old' }, 'old').join(';\n')));
    // The bookkeeping row as the code of that time wrote it (today's saveMapping needs later columns).
    await t.db.query(
      sql(
        `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table) VALUES ($1, 'src_o', $1, $2, $3)`,
        [table.tableId, table.tableName, table.table],
      ),
    );
    await migrate(t.db);
    const r = await t.db.query(
      sql(
        `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'airmirror_guard' AND tgrelid = 'old.things'::regclass`,
      ),
    );
    expect(r.rows[0].n).toBe(1);
  });
});
