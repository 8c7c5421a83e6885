/**
 * Issue 15: everything that is not a write to a mirror table passes through to Postgres on the
 * client's own session, answered unchanged — reads, prepared statements, big results, LISTEN,
 * errors, cancel requests, application_name — and the connection start: the client's own
 * credentials, SSL, and no cleartext passwords from other hosts without it.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createRateBudget } from '../../../src/airtable/rate-budget.ts';
import { sql } from '../../../src/db/sql.ts';
import { cancelQuery, refusal, startSecondEndpoint, TLS, usePgEndpoint } from './harness.ts';

const s = usePgEndpoint();

describe('reads and everything else pass through unchanged', () => {
  it('answers reads as Postgres does: rows, types, row counts', async () => {
    const c = await s.connect();
    const direct = await s.connect(s.directUrl);
    const q = 'SELECT id, name, tier, tags, created_time, customer_no FROM customers ORDER BY id';
    const [a, b] = [await c.query(q), await direct.query(q)];
    expect(a.rows).toEqual(b.rows);
    expect(a.fields).toEqual(b.fields);
    const big = 'SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 50000) g';
    const [x, y] = [await c.query(big), await direct.query(big)];
    expect(x.rowCount).toBe(50000);
    expect(x.rows).toEqual(y.rows);
  });

  it('named prepared statements, binary parameters, DDL, SET and transactions', async () => {
    const c = await s.connect();
    const q = { name: 'by_tier', text: 'SELECT count(*)::int AS n FROM customers WHERE tier = $1' };
    const n1 = (await c.query({ ...q, values: ['Gold'] })).rows[0].n;
    const n2 = (await c.query({ ...q, values: ['Gold'] })).rows[0].n;
    expect(n1).toBe(n2);
    await c.query('CREATE TABLE side (n int)');
    await c.query('BEGIN');
    await c.query('INSERT INTO side SELECT generate_series(1, 3)');
    await c.query('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n FROM side')).rows[0].n).toBe(0);
    await c.query(`SET application_name = 'renamed'`);
    expect((await c.query('SHOW application_name')).rows[0].application_name).toBe('renamed');
  });

  it('passes Postgres errors on as they are, and the session goes on', async () => {
    const c = await s.connect();
    const e = await refusal(c.query('SELEC 1'));
    expect(e.code).toBe('42601');
    expect(e.position).toBe('1');
    const e2 = await refusal(c.query('SELECT * FROM no_such_table WHERE a = $1', [1]));
    expect(e2.code).toBe('42P01');
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('LISTEN/NOTIFY reach the client', async () => {
    const c = await s.connect();
    const got = new Promise<string>((resolve) => c.on('notification', (n) => resolve(n.payload ?? '')));
    await c.query('LISTEN endpoint_test');
    const other = await s.connect();
    await other.query(`NOTIFY endpoint_test, 'hello'`);
    expect(await got).toBe('hello');
  });

  it('application_name of the start-up reaches Postgres', async () => {
    const c = await s.connect(s.endpointUrl, { application_name: 'my-app' });
    const r = await c.query('SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()');
    expect(r.rows[0].application_name).toBe('my-app');
  });

  it('a session on another database is a plain relay', async () => {
    const u = new URL(s.endpointUrl);
    u.pathname = '/postgres';
    const c = await s.connect(u.toString());
    expect((await c.query('SELECT current_database() AS d')).rows[0].d).toBe('postgres');
  });
});

describe('cancel requests', () => {
  it('cancel a running query through the endpoint', async () => {
    const c = await s.connect();
    const running = c.query('SELECT pg_sleep(20)');
    await new Promise((r) => setTimeout(r, 200));
    await cancelQuery(s.endpointUrl, c);
    const err = await refusal(running);
    expect(err.code).toBe('57014');
    expect((await c.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });

  it('cancel a write between Airtable batches: the batches sent stay, the error says how many', async () => {
    // One request a second: the statement's 3 batches take over two seconds.
    let requests = 0;
    const ep = await startSecondEndpoint(s, {
      airtable: {
        fetch: (i, init) => {
          requests++;
          return fetch(i, init);
        },
        budget: createRateBudget({ perSecond: 1 }),
      },
    });
    try {
      const c = await s.connect(ep.url);
      const ids = (
        await s.db.query<{ id: string }>(sql('SELECT id FROM orders ORDER BY id LIMIT 25'))
      ).rows.map((r) => r.id);
      const running = c.query(`UPDATE orders SET notes = 'cancelled run' WHERE id = ANY($1)`, [ids]);
      const until = Date.now() + 15_000;
      while (requests === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      await cancelQuery(ep.url, c);
      const err = await refusal(running);
      expect(err.code).toBe('57014');
      expect(err.detail).toMatch(/^Airtable accepted (10|20) of 25 rows/);
      const accepted = Number(/accepted (\d+)/.exec(err.detail!)![1]);
      const mirrored = await s.db.query<{ n: number }>(
        sql(`SELECT count(*)::int AS n FROM orders WHERE notes = 'cancelled run'`),
      );
      expect(mirrored.rows[0].n).toBe(accepted);
    } finally {
      await ep.close();
    }
  });
});

describe('connection start', () => {
  it('a wrong password is Postgres’ own refusal', async () => {
    const c = new pg.Client(s.urlFor('postgres', 'wrong'));
    const err = await refusal(c.connect());
    expect(err.code).toBe('28P01');
  });

  it('SSL when the endpoint has a certificate', async () => {
    const ep = await startSecondEndpoint(s, { tls: TLS });
    try {
      const c = await s.connect(ep.url, { ssl: { rejectUnauthorized: false } });
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(
        (c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted,
      ).toBe(true);
      await c.end();
      // Without a certificate the endpoint declines SSL; a client that requires it gives up.
      const plain = new pg.Client({ connectionString: s.endpointUrl, ssl: { rejectUnauthorized: false } });
      await expect(plain.connect()).rejects.toThrow(/does not support SSL/);
    } finally {
      await ep.close();
    }
  });

  it('from another host: no password in cleartext without SSL; with SSL it is fine', async () => {
    const ep = await startSecondEndpoint(s, { tls: TLS, isLocal: () => false });
    try {
      const err = await refusal(new pg.Client({ connectionString: ep.url, ssl: false }).connect());
      expect(err.code).toBe('28000');
      expect(err.message).toContain('only over SSL');
      const c = await s.connect(ep.url, { ssl: { rejectUnauthorized: false } });
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await c.end();
    } finally {
      await ep.close();
    }
  });
});
