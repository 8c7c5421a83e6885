import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConnectionError } from '../../src/db/connection-errors.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded.ts';
import { pingDatabase } from '../../src/db/health.ts';
import { sql } from '../../src/db/sql.ts';
import { PostgresWatch } from '../../src/db/watch.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * A Postgres restart (stopped with a fast shutdown, as an upgrade or fail-over does: every session
 * gets 57P01) while connections of every kind are busy or idle: the pool's in a transaction, in a
 * query, idle inside a transaction; the COPY pool's; dedicated sessions. pg emits 'error' on each;
 * one without a listener would end this test worker. Then everything works again, and the watch
 * saw it go and come back. A Postgres of this file's own: stopping it breaks no other test file.
 */
const dir = mkdtempSync(join(tmpdir(), 'airmirror-restart-'));
let server: EmbeddedPostgresHandle;
let db: Database;
const reported: Error[] = [];
let recovered = 0;
let watch: PostgresWatch;

beforeAll(async () => {
  server = await startEmbeddedPostgres({ dataDir: dir, durable: false });
  db = createDatabase(server.url, { max: 6, connectionTimeoutMs: 2_000, onError: (e) => reported.push(e) });
  watch = new PostgresWatch({
    ping: () => pingDatabase(db),
    onRecovered: () => recovered++,
    retryMs: 50,
    maxRetryMs: 200,
  });
  watch.start();
  await db.query(sql('CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, label text)'));
}, 120_000);

afterAll(async () => {
  await watch?.stop();
  await db?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('a Postgres restart', () => {
  it('fails what was in flight, crashes nothing, and everything works once it is back', async () => {
    let resolveRelease!: () => void;
    const release = {
      promise: new Promise<void>((r) => (resolveRelease = r)),
      resolve: () => resolveRelease(),
    };
    const inFlight = {
      // A checked-out pool client in a query, and one holding a transaction open without a query
      // running (waiting on something else): pg-pool has no 'error' listener on either.
      txQuery: db.tx((q) => q.query(sql('SELECT pg_sleep(60)'))),
      txIdle: db.tx(async (q) => {
        await q.query(sql('SELECT 1'));
        await release.promise;
        await q.query(sql('SELECT 1'));
      }),
      poolQuery: db.query(sql('SELECT pg_sleep(60)')),
      pipeline: db.txPipeline!([sql('SELECT pg_sleep(60)'), sql('SELECT 1')]),
      copy: db.copyFrom(
        { text: 'COPY t (id, label) FROM STDIN', data: [Buffer.from('1\tone\n')] },
        { before: [sql('SELECT pg_sleep(60)')] },
      ),
    };
    for (const p of Object.values(inFlight)) p.catch(() => undefined);

    // Dedicated sessions with no listener of the caller's own: one busy, one idle.
    const busy = db.dedicatedClient();
    const idle = db.dedicatedClient();
    await busy.connect();
    await idle.connect();
    const busyQuery = busy.query('SELECT pg_sleep(60)');
    busyQuery.catch(() => undefined);

    // Everything is really in the server before it goes.
    await waitUntil(
      async () =>
        Number(
          (
            await idle.query<{ n: string }>(
              "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'",
            )
          ).rows[0].n,
        ) === 5,
      { what: 'five sleeping queries', timeoutMs: 20_000 },
    );

    await server.stop();
    release.resolve();

    for (const [what, p] of Object.entries(inFlight)) {
      const err = await p.then(
        () => new Error(`${what} resolved`),
        (e: unknown) => e,
      );
      expect(isConnectionError(err), `${what}: ${String(err)}`).toBe(true);
    }
    expect(
      isConnectionError(
        await busyQuery.then(
          () => null,
          (e: unknown) => e,
        ),
      ),
    ).toBe(true);

    // Every lost connection was reported (not thrown at the process), with the server's reason.
    expect(reported.some((e) => (e as { code?: string }).code === '57P01')).toBe(true);
    expect(reported.every((e) => isConnectionError(e))).toBe(true);

    // The watch hears of it from the reports, and says so until the server answers again.
    for (const e of reported) watch.noteError(e);
    expect(watch.state()).toMatchObject({ reachable: false });
    expect(watch.state().since).toBeInstanceOf(Date);
    await expect(db.query(sql('SELECT 1'))).rejects.toSatisfy(isConnectionError);
    expect(recovered).toBe(0);

    await server.start();

    await waitUntil(() => recovered === 1, { what: 'the watch to see Postgres back', timeoutMs: 20_000 });
    expect(watch.state().reachable).toBe(true);
    // Every path opens new connections: pool, transaction, pipeline, COPY, dedicated.
    await db.tx((q) => q.query(sql('INSERT INTO t VALUES (2, $1)', ['after'])));
    await db.txPipeline!([sql('INSERT INTO t VALUES (3, $1)', ['piped'])]);
    await db.copyFrom({ text: 'COPY t (id, label) FROM STDIN', data: [Buffer.from('4\tcopied\n')] });
    const fresh: pg.Client = db.dedicatedClient();
    await fresh.connect();
    await fresh.query('SELECT 1');
    await fresh.end();
    const rows = await db.query<{ id: number }>(sql('SELECT id FROM t ORDER BY id'));
    // The COPY whose `before` was cut off never committed.
    expect(rows.rows.map((r) => r.id)).toEqual([2, 3, 4]);
    await busy.end().catch(() => undefined);
    await idle.end().catch(() => undefined);
  }, 120_000);
});
