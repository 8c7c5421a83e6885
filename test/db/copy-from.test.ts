import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';

/** Database.copyFrom: COPY … FROM STDIN on its own (non-pipelined) connections. */
let db: Database;
let url: string;

const lines = (...rows: string[]) => [Buffer.from(rows.map((r) => `${r}\n`).join(''))];
const copy = (data: Buffer[]) => ({ text: 'COPY copying.t (id, label) FROM STDIN', data });
const ids = async () =>
  (await db.query<{ id: number; label: string | null }>(sql('SELECT id, label FROM copying.t ORDER BY id')))
    .rows;

beforeAll(async () => {
  ({ db, url } = await createTestDatabase());
  await db.query(sql('CREATE SCHEMA copying'));
  await db.query(sql('CREATE TABLE copying.t (id int PRIMARY KEY, label text)'));
});

describe('Database.copyFrom', () => {
  it('copies rows sent in several chunks, a row split across them, and counts them', async () => {
    await db.query(sql('TRUNCATE copying.t'));
    const data = [Buffer.from('1\tone\n2\t'), Buffer.from('two\n3\t\\N\n')];
    const r = await db.copyFrom(copy(data));
    expect(r).toEqual({ rows: 3, after: [] });
    expect(await ids()).toEqual([
      { id: 1, label: 'one' },
      { id: 2, label: 'two' },
      { id: 3, label: null },
    ]);
  });

  it('takes plain Uint8Array chunks as well as Buffers (the type says Uint8Array)', async () => {
    await db.query(sql('TRUNCATE copying.t'));
    const bytes = new TextEncoder().encode('4\tfour\n');
    expect(Buffer.isBuffer(bytes)).toBe(false);
    expect((await db.copyFrom({ text: 'COPY copying.t (id, label) FROM STDIN', data: [bytes] })).rows).toBe(
      1,
    );
    expect(await ids()).toEqual([{ id: 4, label: 'four' }]);
  });

  it('a refused row undoes the whole COPY, and the connection serves the next one', async () => {
    await db.query(sql('TRUNCATE copying.t'));
    await expect(db.copyFrom(copy(lines('1\tok', 'not-a-number\tbad')))).rejects.toBeInstanceOf(
      pg.DatabaseError,
    );
    expect(await ids()).toEqual([]);
    const dup = db.copyFrom(copy(lines('5\ta', '5\tb')));
    await expect(dup).rejects.toMatchObject({ code: '23505' });
    // Many more COPYs than the pool has connections: none is left broken or in a transaction.
    for (let i = 0; i < 6; i++) await db.copyFrom(copy(lines(`${10 + i}\tn${i}`)));
    expect((await ids()).map((r) => r.id)).toEqual([10, 11, 12, 13, 14, 15]);
  });

  it('runs `before`, the COPY and `after` in one transaction, returning what `after` returned', async () => {
    await db.query(sql('TRUNCATE copying.t'));
    const r = await db.copyFrom(copy(lines('1\tone', '2\ttwo')), {
      before: [sql('CREATE TEMP TABLE copy_seen (n int) ON COMMIT DROP')],
      after: [
        sql('INSERT INTO copy_seen SELECT count(*) FROM copying.t'),
        sql('SELECT n, $1::text AS tag FROM copy_seen', ['bound']),
      ],
    });
    expect(r.rows).toBe(2);
    expect(r.after[1].rows).toEqual([{ n: 2, tag: 'bound' }]);
    expect(await ids()).toHaveLength(2);
  });

  it('a failing `after` statement rolls the COPY back too', async () => {
    await db.query(sql('TRUNCATE copying.t'));
    await expect(db.copyFrom(copy(lines('1\tone')), { after: [sql('SELECT 1 / 0')] })).rejects.toMatchObject({
      code: '22012',
    });
    expect(await ids()).toEqual([]);
    await db.copyFrom(copy(lines('2\ttwo')));
    expect(await ids()).toEqual([{ id: 2, label: 'two' }]);
  });

  it('works next to pipelined queries of the main pool, and close() ends both pools', async () => {
    const own = createDatabase(url, { max: 2 });
    await own.query(sql('TRUNCATE copying.t'));
    const [copied, n] = await Promise.all([
      own.copyFrom(copy(lines('7\tseven'))),
      own.query<{ n: number }>(sql('SELECT 41 + 1 AS n')),
    ]);
    expect(copied.rows).toBe(1);
    expect(n.rows[0].n).toBe(42);
    await own.close();
    await expect(own.copyFrom(copy(lines('8\teight')))).rejects.toThrow();
  });

  it('refuses after close() even when no COPY ran before (no pool opened behind a closed database)', async () => {
    const own = createDatabase(url, { max: 2 });
    await own.close();
    await expect(own.copyFrom(copy(lines('9\tnine')))).rejects.toThrow(/closed/);
  });
});
