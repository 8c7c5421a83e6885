import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { isConnectionError } from './connection-errors.ts';
import { CopyInQuery } from './copy-in.ts';
import type { Sql } from './sql.ts';

/** What a query can run on: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(q: Sql): Promise<pg.QueryResult<R>>;
}

export interface TxOptions {
  /**
   * `SET LOCAL lock_timeout` for this transaction: a statement that waits longer than this for a
   * lock fails (55P03) instead of queueing behind, or deadlocking with, a reader.
   */
  lockTimeoutMs?: number;
}

export interface Database extends Queryable {
  /** The connection string (it may hold a password: never log it; src/log.ts redactUrl). */
  readonly url: string;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  tx<T>(fn: (client: Queryable) => Promise<T>, opts?: TxOptions): Promise<T>;
  /**
   * Runs `statements` in order in one transaction, like `tx` with one query after another, but
   * BEGIN, the statements and COMMIT go out together and cost one round trip. Each statement still
   * runs (and takes its READ COMMITTED snapshot) only after the one before it has finished; if one
   * fails, the rest do nothing, the transaction rolls back and its error is thrown.
   * Optional: a Database that wraps another (e.g. one that joins an open transaction) leaves it
   * out, and callers then fall back to `tx` — so a wrapper that changes `tx` must not copy it.
   */
  txPipeline?(statements: Sql[]): Promise<pg.QueryResult[]>;
  /**
   * `COPY … FROM STDIN` of `copy.data`, rows already in COPY text format (src/mirror/copy-text.ts).
   * Alone, the COPY is its own implicit transaction and costs one round trip. With `around`, its
   * `before` statements, the COPY and its `after` statements run in one transaction. Returns the
   * rows copied and the results of `after`. Runs on a connection without pipelining (pg refuses
   * COPY in pipeline mode), from a small pool of its own opened on first use.
   */
  copyFrom(copy: CopyFrom, around?: { before?: Sql[]; after?: Sql[] }): Promise<CopyFromResult>;
  /**
   * A new, unconnected client outside the pool, for state that lives as long as a session
   * (LISTEN, session advisory locks). The caller connects it and ends it. Its 'error' events
   * already go to `onError` (an unhandled one would end the process); a caller that must notice a
   * lost session (to re-open it) listens for 'error' or 'end' as well.
   */
  dedicatedClient(): pg.Client;
  close(): Promise<void>;
}

/** What the single write path needs of a database: queries and transactions (src/mirror/apply.ts). */
export type WriteTarget = Pick<Database, 'query' | 'tx'> & Partial<Pick<Database, 'txPipeline'>>;

export interface CopyFrom {
  /** The `COPY <table> (<columns>) FROM STDIN` statement. */
  text: string;
  data: readonly Uint8Array[];
}

export interface CopyFromResult {
  rows: number;
  after: pg.QueryResult[];
}

// numeric stays a string (exact); bigint (int8) becomes a JS number only when it is safe.
pg.types.setTypeParser(20, (v: string) => {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v;
});

export interface DatabaseOptions {
  max?: number;
  /**
   * Called with the error of any connection that fails — idle or in use, pooled, COPY or
   * dedicated — e.g. every open connection when Postgres restarts (57P01). Such an error is only
   * reported here: the query it interrupted rejects, the connection is dropped, the next query
   * opens a new one. Without a listener pg would throw it at the process and end it.
   */
  onError?: (err: Error) => void;
  statementTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /**
   * pg's pipeline mode (default on): queries issued on a connection before the previous one
   * answered go out at once instead of waiting; the server still runs them one after another.
   * `txPipeline` needs it (without it, it runs the statements one round trip at a time).
   */
  pipeline?: boolean;
  /**
   * Named prepared statements for small write batches (default on). Turn off behind a pooler in
   * transaction mode that cannot keep them (PgBouncer before 1.21): every statement is then
   * parsed and planned afresh, which costs about a millisecond per write.
   */
  preparedStatements?: boolean;
}

/**
 * pg-pool listens for 'error' on idle clients only: it removes its listener while a client is
 * checked out, and pg emits 'error' on a client whose connection drops even when a query is in
 * flight. Postgres restarting while any query runs would then end the process. Every client gets
 * a listener of its own for its whole life, and the pool's idle-client errors go the same way.
 */
function guardPool(pool: pg.Pool, onError: (err: Error) => void): void {
  pool.on('connect', (client) => client.on('error', onError));
  // The pool re-emits an idle client's error, already reported by the client's own listener.
  pool.on('error', () => undefined);
}

interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Every connection airmirror opens announces itself as a mirror writer, so the direct-write guard
 * on mirror tables lets it through (src/mirror/write-guard.ts); options of the URL are kept.
 */
function writerOptions(connectionString: string): string {
  const own = '-c airmirror.writer=on';
  const fromUrl = parseConnectionString(connectionString).options;
  return fromUrl ? `${fromUrl} ${own}` : own;
}

export function createDatabase(connectionString: string, opts: DatabaseOptions = {}): Database {
  const prepared = opts.preparedStatements ?? true;
  const options = writerOptions(connectionString);
  const toQuery = (q: Sql): pg.QueryConfig =>
    q.name === undefined || !prepared
      ? { text: q.text, values: q.values }
      : { text: q.text, values: q.values, name: q.name };

  const onError = (err: Error) => opts.onError?.(err);
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    statement_timeout: opts.statementTimeoutMs,
    pipeline: opts.pipeline ?? true,
    options,
    // A server that vanished without closing its sockets (a fail-over) is noticed by TCP.
    keepAlive: true,
  });
  guardPool(pool, onError);

  // COPY needs a connection without pipelining. Few are needed at once (rebuild fills), and none
  // at all in most processes: opened on first use.
  let copyPool: pg.Pool | undefined;
  let closed = false;
  const copyConnection = () => {
    if (closed) return Promise.reject(new Error('the database was closed'));
    if (!copyPool) {
      copyPool = new pg.Pool({
        connectionString,
        max: Math.min(4, opts.max ?? 10),
        connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
        statement_timeout: opts.statementTimeoutMs,
        options,
        keepAlive: true,
      });
      guardPool(copyPool, onError);
    }
    return copyPool.connect();
  };

  async function copyFrom(
    copy: CopyFrom,
    around: { before?: Sql[]; after?: Sql[] } = {},
  ): Promise<CopyFromResult> {
    const client = await copyConnection();
    const inTx = Boolean(around.before?.length || around.after?.length);
    let broken: unknown;
    try {
      if (inTx) await client.query('BEGIN');
      for (const s of around.before ?? []) await client.query(toQuery(s));
      const q = client.query(new CopyInQuery(copy.text, copy.data));
      const rows = await q.done;
      const after: pg.QueryResult[] = [];
      for (const s of around.after ?? []) after.push(await client.query(toQuery(s)));
      if (inTx) await client.query('COMMIT');
      return { rows, after };
    } catch (err) {
      if (inTx) await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
      // Not the server refusing a statement (the socket failed): the connection is not reused.
      if (!(err instanceof pg.DatabaseError)) broken = err;
      throw err;
    } finally {
      client.release(broken !== undefined);
    }
  }

  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    query: <R extends pg.QueryResultRow>(q: Sql) => c.query<R>(toQuery(q)),
  });
  const self = wrap(pool);

  async function tx<T>(fn: (client: Queryable) => Promise<T>, txOpts: TxOptions = {}): Promise<T> {
    const client = await pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      if (txOpts.lockTimeoutMs !== undefined) {
        // SET takes no parameters; the value is a whole number of milliseconds.
        await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.trunc(txOpts.lockTimeoutMs))}`);
      }
      const result = await fn(wrap(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A lost connection is not handed to the next caller.
      broken = isConnectionError(err) ? err : undefined;
      throw err;
    } finally {
      client.release(broken as Error | undefined);
    }
  }

  async function txPipeline(statements: Sql[]): Promise<pg.QueryResult[]> {
    const client = await pool.connect();
    if (!client.pipeline) {
      client.release();
      return tx(async (q) => {
        const out: pg.QueryResult[] = [];
        for (const s of statements) out.push(await q.query(s));
        return out;
      });
    }
    // Issued without waiting, the server answering in order. pg writes each query as soon as it
    // is issued; corked, they leave in one write (one syscall, one wake-up of the server).
    const stream = (client as unknown as { connection?: { stream?: Partial<Corkable> } }).connection?.stream;
    const cork = typeof stream?.cork === 'function' && typeof stream.uncork === 'function';
    if (cork) stream.cork!();
    const sent: Promise<pg.QueryResult>[] = [];
    try {
      sent.push(client.query('BEGIN'));
      for (const s of statements) sent.push(client.query(toQuery(s)));
      sent.push(client.query('COMMIT'));
    } catch (err) {
      // Not a refusal by the server: whatever went out is abandoned with the connection.
      for (const p of sent) p.catch(() => undefined);
      client.release(true);
      throw err;
    } finally {
      if (cork) stream.uncork!();
    }
    const settled = await Promise.allSettled(sent);
    // The first failure is the cause; the statements after it only report the aborted transaction.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const commit = settled[settled.length - 1];
    if (!failed && commit.status === 'fulfilled' && commit.value.command === 'COMMIT') {
      client.release();
      return settled.slice(1, -1).map((r) => (r as PromiseFulfilledResult<pg.QueryResult>).value);
    }
    // A failed statement makes the server answer COMMIT with a rollback; make sure nothing stays
    // open. A connection that failed (not the server refusing a statement) or cannot say it is
    // idle again is dropped rather than handed to the next caller.
    const fromServer = failed === undefined || failed.reason instanceof pg.DatabaseError;
    let idle = fromServer && client.getTransactionStatus() === 'I';
    if (fromServer && !idle) {
      await client.query('ROLLBACK').catch(() => undefined);
      idle = client.getTransactionStatus() === 'I';
    }
    client.release(!idle);
    throw failed ? failed.reason : new Error('transaction was rolled back');
  }

  return {
    url: connectionString,
    query: self.query,
    tx,
    txPipeline,
    copyFrom,
    dedicatedClient: () => {
      const client = new pg.Client({
        connectionString,
        connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
        statement_timeout: opts.statementTimeoutMs,
        options,
        keepAlive: true,
      });
      client.on('error', onError);
      return client;
    },
    async close() {
      closed = true;
      await Promise.all([pool.end(), copyPool?.end()]);
    },
  };
}
