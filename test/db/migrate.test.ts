import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { migrations } from '../../src/db/migrations/index.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase } from '../support/db.ts';

const { db } = await createTestDatabase({ migrate: false });

describe('migrate', () => {
  it('applies every migration once, and is a no-op the second time', async () => {
    const first = await migrate(db);
    expect(first).toEqual(migrations.map((m) => m.version));
    const second = await migrate(db);
    expect(second).toEqual([]);
    const rows = await db.query<{ version: number }>(
      sql('SELECT version FROM airmirror.schema_migrations ORDER BY version'),
    );
    expect(rows.rows.map((r) => r.version)).toEqual(migrations.map((m) => m.version));
  });

  it('serialises concurrent runs', async () => {
    const results = await Promise.all([migrate(db), migrate(db), migrate(db)]);
    expect(results.flat()).toEqual([]);
  });

  it('refuses a list out of order', async () => {
    await expect(
      migrate(db, [
        { version: 2, name: 'b', up: [] },
        { version: 1, name: 'a', up: [] },
      ]),
    ).rejects.toThrow(/out of order/);
  });
});
