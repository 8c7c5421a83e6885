/**
 * Issue 15, read pass-through: the relay relays a Query or Parse whose text holds none of the
 * words that matter without decoding it further or parsing it (proxy/pg/classify.ts mayMatter).
 * Whatever it skips must never be a write to a mirror table: every way of writing one — comments,
 * any case, WITH, prepared, several statements in one string — still reaches Airtable first, and
 * a data-modifying WITH inside a read is still refused with nothing sent.
 */
import { describe, expect, it } from 'vitest';
import { mayMatter } from '../../../proxy/pg/classify.ts';
import { sql } from '../../../src/db/sql.ts';
import { refusal, usePgEndpoint } from './harness.ts';

const s = usePgEndpoint();

const WRITES = [
  `UPDATE customers SET notes = 'x' WHERE id = 'rec1'`,
  `uPdAtE customers SET notes = 'x'`,
  `/* a comment */ update customers set notes = 'x'`,
  `-- a line comment\ninsert into customers (name) values ('x')`,
  `WITH pick AS (SELECT id FROM customers LIMIT 1) DELETE FROM customers WHERE id IN (SELECT id FROM pick)`,
  `WITH u AS (UPDATE customers SET notes = 'x' RETURNING id) SELECT count(*) FROM u`,
  `SELECT 1; DELETE FROM customers WHERE id = 'rec1'; SELECT 2`,
  `PREPARE w(text) AS UPDATE customers SET notes = $1`,
  `EXECUTE w('x')`,
  `DEALLOCATE w`,
  `SET search_path = other, public`,
  `CREATE TEMP TABLE customers (id text)`,
];

describe('the first look', () => {
  it('looks closer at every way of writing a mirror table (and at what changes where names lead)', () => {
    for (const text of WRITES) expect(mayMatter(text), text).toBe(true);
  });

  it('lets plain reads through without a closer look', () => {
    for (const text of [
      'SELECT abalance FROM pgbench_accounts WHERE aid = 42',
      'SELECT * FROM customers WHERE id = $1',
      `SELECT count(*) FROM orders o JOIN customers c ON c.id = ANY(o.customer) WHERE c.tier = 'Gold'`,
      'BEGIN',
      'COMMIT',
    ]) {
      expect(mayMatter(text), text).toBe(false);
    }
  });
});

async function ids(n: number): Promise<string[]> {
  const r = await s.db.query<{ id: string }>(sql('SELECT id FROM customers ORDER BY id LIMIT $1', [n]));
  return r.rows.map((x) => x.id);
}

/** The notes of a customer in Airtable and in the mirror. */
async function notes(id: string): Promise<{ airtable: unknown; mirror: unknown }> {
  const field = s.table('Customers').columns.find((c) => c.column === 'notes')!.fieldId;
  return {
    airtable: (await s.airtable('Customers', id))?.fields[field] ?? null,
    mirror: (await s.mirror('Customers', id))?.notes ?? null,
  };
}

describe('every write form still goes to Airtable first', () => {
  it('comments and any case, in simple and extended protocol', async () => {
    const c = await s.connect();
    const [a, b] = await ids(2);
    await c.query(`/* leading comment */ UpDaTe customers SET notes = 'commented' WHERE id = '${a}'`);
    expect(await notes(a)).toEqual({ airtable: 'commented', mirror: 'commented' });
    // Extended protocol: node-postgres sends an unnamed Parse for a query with parameters.
    await c.query(`-- a line comment\nupdate customers set notes = $1 where id = $2`, ['line comment', b]);
    expect(await notes(b)).toEqual({ airtable: 'line comment', mirror: 'line comment' });
  });

  it('a read WITH clause before the UPDATE; a named prepared write after many prepared reads', async () => {
    const c = await s.connect();
    const [, , a, b] = await ids(4);
    await c.query(
      `WITH pick AS (SELECT id FROM customers WHERE id = $1) UPDATE customers SET notes = 'with' WHERE id IN (SELECT id FROM pick)`,
      [a],
    );
    expect(await notes(a)).toEqual({ airtable: 'with', mirror: 'with' });
    for (let i = 0; i < 5; i++) {
      const r = await c.query({
        name: `read_${i}`,
        text: 'SELECT id FROM customers WHERE id = $1',
        values: [b],
      });
      expect(r.rows).toEqual([{ id: b }]);
    }
    for (const value of ['prepared 1', 'prepared 2']) {
      await c.query({
        name: 'write',
        text: 'UPDATE customers SET notes = $1 WHERE id = $2',
        values: [value, b],
      });
      expect(await notes(b)).toEqual({ airtable: value, mirror: value });
    }
  });

  it('a write between reads in one simple query string', async () => {
    const c = await s.connect();
    const [, , , , a] = await ids(5);
    const r = (await c.query(
      `SELECT 1 AS one; update customers set notes = 'multi' where id = '${a}'; SELECT 2 AS two`,
    )) as unknown as Array<{ command: string; rowCount: number; rows: unknown[] }>;
    expect(r.map((x) => [x.command, x.rowCount])).toEqual([
      ['SELECT', 1],
      ['UPDATE', 1],
      ['SELECT', 1],
    ]);
    expect(await notes(a)).toEqual({ airtable: 'multi', mirror: 'multi' });
  });

  it('a data-modifying WITH inside a read is refused (the direct-write guard); nothing sent, nothing changed', async () => {
    const c = await s.connect();
    const [, , , , , a] = await ids(6);
    const before = await notes(a);
    const sent = s.sent.length;
    const err = await refusal(
      c.query(
        `WITH u AS (UPDATE customers SET notes = 'sneaky' WHERE id = '${a}' RETURNING id) SELECT count(*) FROM u`,
      ),
    );
    expect(err.code).toBe('42501');
    expect(err.message).toMatch(/bypasses airmirror/);
    expect(s.sent.length).toBe(sent);
    expect(await notes(a)).toEqual(before);
  });
});
