import pg from 'pg';
import type { Sql } from './sql.ts';

/** What a query can run on: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(q: Sql): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly pool: pg.Pool;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  tx<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// numeric stays a string (exact); bigint (int8) becomes a JS number only when it is safe.
pg.types.setTypeParser(20, (v: string) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export interface DatabaseOptions {
  max?: number;
  /** Called for errors of idle clients, which would otherwise crash the process. */
  onError?: (err: Error) => void;
  statementTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

export function createDatabase(connectionString: string, opts: DatabaseOptions = {}): Database {
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    statement_timeout: opts.statementTimeoutMs,
  });
  pool.on('error', (err) => opts.onError?.(err));

  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    query: <R extends pg.QueryResultRow>(q: Sql) => c.query<R>(q.text, q.values),
  });
  const self = wrap(pool);

  return {
    pool,
    query: self.query,
    async tx<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}
