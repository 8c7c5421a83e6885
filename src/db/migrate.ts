import type { Database } from './database.ts';
import { sql } from './sql.ts';
import { migrations, type Migration } from './migrations/index.ts';

/** Lock key for migrations, so two processes starting at once do not both apply them. */
const MIGRATION_LOCK = 0x6169726d; // 'airm'

/**
 * Brings the `airmirror` bookkeeping schema up to the newest version. Each migration runs in its
 * own transaction together with the row that records it, so a crash leaves a clean version.
 */
export async function migrate(db: Database, list: readonly Migration[] = migrations): Promise<number[]> {
  assertOrdered(list);
  return db.tx(async (tx) => {
    await tx.query(sql('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]));
    await tx.query(sql('CREATE SCHEMA IF NOT EXISTS airmirror'));
    await tx.query(
      sql(`CREATE TABLE IF NOT EXISTS airmirror.schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`),
    );
    const done = await tx.query<{ version: number }>(sql('SELECT version FROM airmirror.schema_migrations'));
    const applied = new Set(done.rows.map((r) => r.version));
    const ran: number[] = [];
    for (const m of list) {
      if (applied.has(m.version)) continue;
      for (const statement of m.up) await tx.query(sql(statement));
      await tx.query(
        sql('INSERT INTO airmirror.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]),
      );
      ran.push(m.version);
    }
    return ran;
  });
}

function assertOrdered(list: readonly Migration[]): void {
  for (let i = 1; i < list.length; i++) {
    if (list[i].version <= list[i - 1].version) {
      throw new Error(`migrations out of order: ${list[i - 1].version} then ${list[i].version}`);
    }
  }
}
