import { beforeAll, describe, expect, it } from 'vitest';
import { SOURCES_COLUMNS, SYNC_RUNS_COLUMNS, TABLES_COLUMNS } from '../../src/bookkeeping/rows.ts';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';

/** src/bookkeeping/rows.ts describes the bookkeeping rows column for column, as migrated. */
let db: Database;

beforeAll(async () => {
  ({ db } = await createTestDatabase());
});

async function columnsOf(table: string): Promise<string[]> {
  const r = await db.query<{ column_name: string }>(
    sql(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'airmirror' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    ),
  );
  return r.rows.map((c) => c.column_name);
}

describe('the catalog row types', () => {
  it('name exactly the columns of airmirror.sources', async () => {
    expect((await columnsOf('sources')).sort()).toEqual([...SOURCES_COLUMNS].sort());
  });

  it('name exactly the columns of airmirror.tables', async () => {
    expect((await columnsOf('tables')).sort()).toEqual([...TABLES_COLUMNS].sort());
  });

  it('name exactly the columns of airmirror.sync_runs', async () => {
    expect((await columnsOf('sync_runs')).sort()).toEqual([...SYNC_RUNS_COLUMNS].sort());
  });
});
