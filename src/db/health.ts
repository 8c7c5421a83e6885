import type { Queryable } from './database.ts';
import { sql } from './sql.ts';

/** Resolves when Postgres answers a trivial query (the health check); rejects otherwise. */
export async function pingDatabase(q: Queryable): Promise<void> {
  await q.query(sql('SELECT 1'));
}
