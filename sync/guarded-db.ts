import type pg from 'pg';
import { NOT_OWNER } from '../src/bookkeeping/ownership.ts';
import type { Database, Queryable } from '../src/db/database.ts';

/** A statement (src/db/sql.ts's Sql, named through the seam that runs it). */
type Sql = Parameters<Queryable['query']>[0];

/**
 * The database as a base's work sees it while this process owns the base (docs/ownership.md):
 * every statement runs in a transaction that starts with `guard` (`ownerGuard`: the base's work
 * lock, shared, and the owner's epoch). Once another process has taken the base, each of them
 * fails with SQLSTATE AM001 and `onFenced` is called — a process that was cut off or frozen can
 * never write for a base again, whatever its clock says. Statements go out in one round trip
 * (the pipeline), so a single statement costs about what it did alone.
 */
export function guardedDatabase(db: Database, guard: Sql, onFenced: () => void): Database {
  const fenced = (err: unknown): never => {
    if ((err as { code?: unknown } | undefined)?.code === NOT_OWNER) onFenced();
    throw err;
  };
  const pipeline = db.txPipeline?.bind(db);
  const tx: Database['tx'] = (fn, opts) =>
    db
      .tx(async (q) => {
        await q.query(guard);
        return fn(q);
      }, opts)
      .catch(fenced);
  const query = <R extends pg.QueryResultRow>(q: Sql): Promise<pg.QueryResult<R>> =>
    pipeline
      ? pipeline([guard, q]).then((r) => r[1] as pg.QueryResult<R>, fenced)
      : tx((t: Queryable) => t.query<R>(q));
  const guarded: Database = {
    url: db.url,
    query,
    tx,
    copyFrom: (copy, around) =>
      db.copyFrom(copy, { before: [guard, ...(around?.before ?? [])], after: around?.after }).catch(fenced),
    dedicatedClient: () => db.dedicatedClient(),
    // The database is the process's; the work only borrows it.
    close: async () => undefined,
  };
  if (pipeline) {
    guarded.txPipeline = (statements) => pipeline([guard, ...statements]).then((r) => r.slice(1), fenced);
  }
  return guarded;
}
