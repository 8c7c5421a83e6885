/**
 * Issue 15: Airtable's refusals and the endpoint's own come back as Postgres errors (SQLSTATE,
 * the column in the message, Airtable's type and message in the detail) and leave Airtable and
 * the mirror as they were — or, for a statement refused part-way, exactly equal.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sql } from '../../../src/db/sql.ts';
import { DEMO_BASE_ID } from '../../../emulator/index.ts';
import { refusal, startSecondEndpoint, usePgEndpoint } from './harness.ts';

const s = usePgEndpoint();

const col = (table: string, column: string) => s.table(table).columns.find((x) => x.column === column)!;

async function ids(table: string, n: number): Promise<string[]> {
  const r = await s.db.query<{ id: string }>(sql(`SELECT id FROM ${table} ORDER BY id LIMIT $1`, [n]));
  return r.rows.map((x) => x.id);
}

/** Airtable's record and the mirror row, to compare before and after. */
async function snapshot(table: string, id: string) {
  return { airtable: await s.airtable(table, id), mirror: await s.mirror(table, id) };
}

describe('Airtable refuses', () => {
  it('a select option that does not exist: 22023 naming the column, nothing applied', async () => {
    const c = await s.connect();
    const [id] = await ids('customers', 1);
    const before = await snapshot('Customers', id);
    const sentBefore = s.sent.length;
    const err = await refusal(c.query(`UPDATE customers SET tier = 'Diamond' WHERE id = $1`, [id]));
    expect(err.code).toBe('22023');
    expect(err.message).toBe('invalid value for column "tier" (Airtable refused the update)');
    expect(err.column).toBe('tier');
    expect(err.table).toBe('customers');
    expect(err.detail).toMatch(/^Airtable: INVALID_MULTIPLE_CHOICE_OPTIONS: .*Diamond/);
    expect(err.hint).toMatch(/airmirror\.typecast/);
    expect(s.sent.length).toBe(sentBefore + 1);
    expect(await snapshot('Customers', id)).toEqual(before);
    // The session goes on.
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('with airmirror.typecast on, Airtable creates the option instead', async () => {
    const c = await s.connect();
    const [id] = await ids('customers', 1);
    await c.query('SET airmirror.typecast = on');
    const r = await c.query(`UPDATE customers SET tier = 'Diamond' WHERE id = $1 RETURNING tier`, [id]);
    expect(r.rows).toEqual([{ tier: 'Diamond' }]);
    expect((await s.airtable('Customers', id))!.fields[col('customers', 'tier').fieldId]).toBe('Diamond');
  });

  it('a field Airtable no longer has: 42703 naming the column', async () => {
    const c = await s.connect();
    const [id] = await ids('products', 1);
    s.emulator.control.deleteField(DEMO_BASE_ID, 'Products', 'Reserved');
    const before = await snapshot('Products', id);
    const err = await refusal(c.query(`UPDATE products SET reserved = 3 WHERE id = $1`, [id]));
    expect(err.code).toBe('42703');
    expect(err.message).toContain('column "reserved"');
    expect(err.detail).toMatch(/^Airtable: UNKNOWN_FIELD_NAME/);
    expect(await snapshot('Products', id)).toEqual(before);
  });

  it('a 25-row UPDATE refused at row 21: Airtable took 20, the mirror equals Airtable, the error says so', async () => {
    const c = await s.connect();
    const rows = await ids('orders', 25);
    const bad = rows.slice(20);
    const sentBefore = s.sent.length;
    const err = await refusal(
      c.query(
        `UPDATE orders SET status = CASE WHEN id = ANY($2) THEN 'Bogus' ELSE 'Shipped' END WHERE id = ANY($1)`,
        [rows, bad],
      ),
    );
    expect(err.code).toBe('22023');
    expect(err.message).toBe(
      'Airtable accepted 20 of 25 rows, then refused rows 21–25: invalid value for column "status"',
    );
    expect(err.column).toBe('status');
    expect(err.detail).toContain('those 20 are in Airtable and in the mirror');
    expect(s.sent.length - sentBefore).toBe(3);
    const status = col('orders', 'status').fieldId;
    const all = new Map((await s.airtableAll('Orders')).map((r) => [r.id, r.fields[status] ?? null]));
    for (const id of rows) {
      const mirrored = (await s.mirror('orders', id))!.status;
      expect(mirrored).toBe(all.get(id));
      if (!bad.includes(id)) expect(mirrored).toBe('Shipped');
    }
    for (const id of bad) expect(all.get(id)).not.toBe('Bogus');
  });
});

describe('the endpoint refuses before anything is sent', () => {
  it.each([
    ['a computed field', `UPDATE orders SET total = 5 WHERE id = $1`, 'total'],
    ['the record id', `UPDATE orders SET id = 'recX' WHERE id = $1`, 'id'],
    ['created_time', `UPDATE orders SET created_time = now() WHERE id = $1`, 'created_time'],
    [
      'an autoNumber on insert',
      `INSERT INTO orders (order_no) SELECT 7 WHERE $1::text IS NOT NULL`,
      'order_no',
    ],
  ])('%s: 428C9 naming the column', async (_what, text, column) => {
    const c = await s.connect();
    const [id] = await ids('orders', 1);
    const before = await snapshot('Orders', id);
    const sentBefore = s.sent.length;
    const err = await refusal(c.query(text, [id]));
    expect(err.code).toBe('428C9');
    expect(err.column).toBe(column);
    expect(err.message).toBe(`column "${column}" can only be updated to DEFAULT`);
    expect(s.sent.length).toBe(sentBefore);
    expect(await snapshot('Orders', id)).toEqual(before);
  });

  it('a column the table does not have: Postgres’ own 42703', async () => {
    const c = await s.connect();
    const err = await refusal(c.query(`UPDATE customers SET no_such_column = 1`));
    expect(err.code).toBe('42703');
  });

  it('no privilege: Postgres’ own 42501 for the client’s user, nothing sent', async () => {
    const role = `reader_${randomBytes(4).toString('hex')}`;
    await s.db.query(sql(`CREATE ROLE ${role} LOGIN PASSWORD 'reader-pw'`));
    await s.db.query(sql(`GRANT SELECT ON customers TO ${role}`));
    await s.db.query(sql(`GRANT UPDATE (name) ON customers TO ${role}`));
    try {
      const c = await s.connect(s.urlFor(role, 'reader-pw'));
      const [id] = await ids('customers', 1);
      const before = await snapshot('Customers', id);
      const sentBefore = s.sent.length;
      expect((await c.query('SELECT count(*)::int AS n FROM customers')).rows[0].n).toBeGreaterThan(0);
      const denied = await refusal(c.query(`UPDATE customers SET tier = 'Gold' WHERE id = $1`, [id]));
      expect(denied.code).toBe('42501');
      expect(denied.message).toBe('permission denied for table customers');
      const noInsert = await refusal(c.query(`INSERT INTO customers (name) VALUES ('x')`));
      expect(noInsert.code).toBe('42501');
      expect(s.sent.length).toBe(sentBefore);
      expect(await snapshot('Customers', id)).toEqual(before);
      // The column it may update goes through.
      await c.query(`UPDATE customers SET name = 'Renamed by reader' WHERE id = $1`, [id]);
      expect((await s.mirror('customers', id))!.name).toBe('Renamed by reader');
    } finally {
      await s.db.query(sql(`DROP OWNED BY ${role}`));
      await s.db.query(sql(`DROP ROLE ${role}`));
    }
  });
});

describe('Airtable unavailable', () => {
  it('Airtable failing (502): 58000, nothing applied', async () => {
    const c = await s.connect();
    const [id] = await ids('customers', 1);
    const before = await snapshot('Customers', id);
    s.emulator.control.fail({ kind: 'status', status: 502 });
    const err = await refusal(c.query(`UPDATE customers SET notes = 'never' WHERE id = $1`, [id]));
    expect(err.code).toBe('58000');
    expect(err.detail).toMatch(/^Airtable: /);
    expect(await snapshot('Customers', id)).toEqual(before);
  });

  it('Airtable unreachable: 58030', async () => {
    // Port 9 (discard): nothing listens there, so the request fails to connect.
    const ep = await startSecondEndpoint(s, {
      airtable: { apiUrl: 'http://127.0.0.1:9', timeoutMs: 2_000 },
    });
    try {
      const c = await s.connect(ep.url);
      const [id] = await ids('customers', 1);
      const err = await refusal(c.query(`UPDATE customers SET notes = 'never' WHERE id = $1`, [id]));
      expect(err.code).toBe('58030');
      expect(err.message).toContain('Airtable could not be reached');
    } finally {
      await ep.close();
    }
  });

  // Last: the penalty holds the base off for the rest of this file.
  it('a 429 from Airtable: 53400, and during the penalty nothing is sent at all', async () => {
    const c = await s.connect();
    const [id] = await ids('customers', 1);
    s.emulator.control.fail({ kind: 'status', status: 429 });
    const first = await refusal(c.query(`UPDATE customers SET notes = 'later' WHERE id = $1`, [id]));
    expect(first.code).toBe('53400');
    expect(first.detail).toContain('RATE_LIMIT_REACHED');
    const sentBefore = s.sent.length;
    const second = await refusal(c.query(`UPDATE customers SET notes = 'later' WHERE id = $1`, [id]));
    expect(second.code).toBe('53400');
    expect(s.sent.length).toBe(sentBefore);
  });
});
