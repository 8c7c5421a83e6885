/**
 * Issue 15, the transaction policy (docs/postgres-endpoint.md): Airtable cannot roll back, so a
 * write to a mirror table inside BEGIN … COMMIT is refused unless the session chose
 * `airmirror.transaction_writes = 'apply'`; then it is sent at once, said so with a NOTICE, and a
 * ROLLBACK warns that it undid nothing in Airtable.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sql } from '../../../src/db/sql.ts';
import { refusal, usePgEndpoint } from './harness.ts';

const s = usePgEndpoint();

async function firstId(table: string): Promise<string> {
  return (await s.db.query<{ id: string }>(sql(`SELECT id FROM ${table} ORDER BY id LIMIT 1`))).rows[0].id;
}

type Notice = { message?: string; severity?: string };

function notices(c: pg.Client): Notice[] {
  const seen: Notice[] = [];
  c.on('notice', (n) => seen.push(n));
  return seen;
}

const notesOf = async (id: string) => (await s.mirror('customers', id))!.notes;
const airtableNotes = async (id: string) => {
  const f = s.table('Customers').columns.find((c) => c.column === 'notes')!.fieldId;
  return (await s.airtable('Customers', id))!.fields[f] ?? null;
};

describe('the default policy: refuse', () => {
  it('refuses a write inside BEGIN with 25001 and a hint; nothing sent; the transaction is aborted as after any error', async () => {
    const c = await s.connect();
    const id = await firstId('customers');
    const before = await notesOf(id);
    const sentBefore = s.sent.length;
    await c.query('BEGIN');
    const err = await refusal(c.query(`UPDATE customers SET notes = 'in tx' WHERE id = $1`, [id]));
    expect(err.code).toBe('25001');
    expect(err.hint).toContain("SET airmirror.transaction_writes = 'apply'");
    const aborted = await refusal(c.query('SELECT 1'));
    expect(aborted.code).toBe('25P02');
    await c.query('ROLLBACK');
    expect(s.sent.length).toBe(sentBefore);
    expect(await notesOf(id)).toBe(before);
    // Autocommit always works.
    await c.query(`UPDATE customers SET notes = 'autocommit' WHERE id = $1`, [id]);
    expect(await airtableNotes(id)).toBe('autocommit');
  });

  it('a simple-protocol BEGIN; UPDATE; COMMIT string is refused the same way', async () => {
    const c = await s.connect();
    const id = await firstId('customers');
    const err = await refusal(c.query(`BEGIN; UPDATE customers SET notes = 'x' WHERE id = '${id}'; COMMIT`));
    expect(err.code).toBe('25001');
    await c.query('ROLLBACK');
  });
});

describe("airmirror.transaction_writes = 'apply'", () => {
  it('sends the write at once with a NOTICE; ROLLBACK warns and undoes nothing in Airtable or the mirror', async () => {
    const c = await s.connect();
    const seen = notices(c);
    const id = await firstId('customers');
    await c.query(`SET airmirror.transaction_writes = 'apply'`);
    await c.query('BEGIN');
    await c.query(`UPDATE customers SET notes = 'applied in tx' WHERE id = $1`, [id]);
    expect(seen.map((n) => n.message)).toEqual([
      '1 row(s) of "customers" were written to Airtable now; a ROLLBACK will not undo them',
    ]);
    // The transaction reads what it wrote (READ COMMITTED: the apply committed on its own).
    expect((await c.query('SELECT notes FROM customers WHERE id = $1', [id])).rows[0].notes).toBe(
      'applied in tx',
    );
    await c.query('ROLLBACK');
    expect(seen[1].severity).toBe('WARNING');
    expect(seen[1].message).toBe('ROLLBACK did not undo 1 row(s) written to Airtable in this transaction');
    expect(await airtableNotes(id)).toBe('applied in tx');
    expect(await notesOf(id)).toBe('applied in tx');
  });

  it('other statements of the transaction still roll back', async () => {
    const c = await s.connect();
    await c.query('CREATE TABLE IF NOT EXISTS tx_side (n int)');
    const id = await firstId('customers');
    await c.query(`SET airmirror.transaction_writes = 'apply'`);
    await c.query('BEGIN');
    await c.query('INSERT INTO tx_side VALUES (1)');
    await c.query(`UPDATE customers SET notes = 'kept' WHERE id = $1`, [id]);
    await c.query('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n FROM tx_side')).rows[0].n).toBe(0);
    expect(await airtableNotes(id)).toBe('kept');
  });

  it('refuses REPEATABLE READ transactions, which could not see the write', async () => {
    const c = await s.connect();
    await c.query(`SET airmirror.transaction_writes = 'apply'`);
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const err = await refusal(
      c.query(`UPDATE customers SET notes = 'rr' WHERE id = $1`, [await firstId('customers')]),
    );
    expect(err.code).toBe('25001');
    await c.query('ROLLBACK');
  });

  it('refuses read-only transactions with 25006', async () => {
    const c = await s.connect();
    await c.query(`SET airmirror.transaction_writes = 'apply'`);
    await c.query('BEGIN READ ONLY');
    const err = await refusal(
      c.query(`UPDATE customers SET notes = 'ro' WHERE id = $1`, [await firstId('customers')]),
    );
    expect(err.code).toBe('25006');
    await c.query('ROLLBACK');
  });
});
