import { join } from 'node:path';
import type { Config } from '../config.ts';
import { createDatabase, type Database } from './database.ts';
import { migrate } from './migrate.ts';
import { migrations } from './migrations/index.ts';
import { sql } from './sql.ts';

/**
 * A migrated database for a command: DATABASE_URL, or the embedded one under dataDir/pg. The
 * embedded server's module is loaded only when it is needed, so a command pointed at a running
 * Postgres (a cron job's `airmirror status`) starts without it.
 */
export async function openCommandDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'pgPreparedStatements'>,
  opts: { max?: number; onError?: (err: Error) => void } = {},
): Promise<{ db: Database; close(): Promise<void> }> {
  const embedded = config.databaseUrl
    ? undefined
    : await (await import('./embedded.ts')).startEmbeddedPostgres({ dataDir: join(config.dataDir, 'pg') });
  const db = createDatabase(config.databaseUrl ?? embedded!.url, {
    preparedStatements: config.pgPreparedStatements,
    max: opts.max,
    // Every connection that fails (src/db/database.ts), e.g. when Postgres restarts.
    onError: opts.onError,
  });
  try {
    if (await behind(db)) await migrate(db);
  } catch (err) {
    await db.close();
    await embedded?.stop();
    throw err;
  }
  return {
    db,
    async close() {
      await db.close();
      await embedded?.stop();
    },
  };
}

/**
 * Whether the schema misses a migration this code knows. The common case (up to date) costs one
 * query instead of migrate's transaction with its lock and its DDL; a missing schema, or any known
 * version not applied, takes the full migrate (which re-checks under its lock). Versions are
 * compared as a set, not by their maximum: migrations are numbered by area, so a later-numbered
 * one can be applied before an earlier-numbered one that a newer release brings.
 */
async function behind(db: Database): Promise<boolean> {
  const known = migrations.map((m) => m.version);
  try {
    const r = await db.query<{ n: number }>(
      sql('SELECT count(*)::int AS n FROM airmirror.schema_migrations WHERE version = ANY($1::int[])', [
        known,
      ]),
    );
    return (r.rows[0]?.n ?? 0) < known.length;
  } catch {
    return true;
  }
}
