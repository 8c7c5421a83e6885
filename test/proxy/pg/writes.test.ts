/**
 * Issue 15: INSERT, UPDATE and DELETE on mirror tables through the Postgres endpoint with
 * node-postgres, simple and extended protocol. Each statement is followed at once by a look at
 * the emulator (Airtable) and at the mirror.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sql } from '../../../src/db/sql.ts';
import { usePgEndpoint } from './harness.ts';

const s = usePgEndpoint();

const fieldId = (table: string, column: string) => {
  const c = s.table(table).columns.find((x) => x.column === column);
  if (!c) throw new Error(`no column ${column}`);
  return c.fieldId;
};

async function someIds(table: string, n: number): Promise<string[]> {
  const r = await s.db.query<{ id: string }>(sql(`SELECT id FROM ${table} ORDER BY id LIMIT $1`, [n]));
  return r.rows.map((x) => x.id);
}

describe('UPDATE', () => {
  it('a prepared 1-row UPDATE … WHERE id = $1 with an expression on the row itself, RETURNING computed fields as Airtable set them', async () => {
    const c = await s.connect();
    const [id] = await someIds('products', 1);
    const before = (await s.mirror('products', id))!;
    const r = await c.query(
      'UPDATE products SET price = price * 1.1 WHERE id = $1 RETURNING id, price, unit_margin',
      [id],
    );
    expect(r.command).toBe('UPDATE');
    expect(r.rowCount).toBe(1);
    const expected = Number(before.price) * 1.1;
    const at = await s.airtable('Products', id);
    expect(at!.fields[fieldId('products', 'price')]).toBeCloseTo(expected, 9);
    const mirrored = (await s.mirror('products', id))!;
    expect(Number(mirrored.price)).toBeCloseTo(expected, 9);
    // RETURNING is the mirror after the apply: the formula Airtable recomputed comes back too.
    expect(r.rows[0].id).toBe(id);
    expect(Number(r.rows[0].price)).toBeCloseTo(expected, 9);
    expect(r.rows[0].unit_margin).toBe(mirrored.unit_margin);
    expect(at!.fields[fieldId('products', 'unit_margin')] ?? null).toEqual(
      mirrored.unit_margin === null ? null : Number(mirrored.unit_margin),
    );
  });

  it('a simple-protocol UPDATE with any WHERE Postgres understands updates every matching row', async () => {
    const c = await s.connect();
    const ids = await someIds('customers', 3);
    const r = await c.query(
      `UPDATE customers SET notes = 'bulk ' || upper(left(id, 4)), active = NOT active WHERE id IN ('${ids.join("','")}')`,
    );
    expect(r.command).toBe('UPDATE');
    expect(r.rowCount).toBe(3);
    for (const id of ids) {
      const at = await s.airtable('Customers', id);
      expect(at!.fields[fieldId('customers', 'notes')]).toBe(`bulk ${id.slice(0, 4).toUpperCase()}`);
      expect((await s.mirror('customers', id))!.notes).toBe(`bulk ${id.slice(0, 4).toUpperCase()}`);
    }
  });

  it('a named prepared statement runs again with other parameters', async () => {
    const c = await s.connect();
    const [a, b] = await someIds('customers', 2);
    const q = { name: 'set_tier', text: 'UPDATE customers SET tier = $2 WHERE id = $1 RETURNING tier' };
    expect((await c.query({ ...q, values: [a, 'Gold'] })).rows).toEqual([{ tier: 'Gold' }]);
    expect((await c.query({ ...q, values: [b, 'Silver'] })).rows).toEqual([{ tier: 'Silver' }]);
    expect((await s.airtable('Customers', a))!.fields[fieldId('customers', 'tier')]).toBe('Gold');
    expect((await s.mirror('customers', b))!.tier).toBe('Silver');
  });

  it('keeps its own statements prepared: repeated writes add none; DISCARD ALL is survived', async () => {
    const c = await s.connect();
    const [id] = await someIds('customers', 1);
    const text = 'UPDATE customers SET notes = $2 WHERE id = $1';
    const ours = async () =>
      (await c.query(`SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'airmirror%'`))
        .rows[0].n;
    await c.query({ name: 'note', text, values: [id, 'first'] });
    const kept = await ours();
    expect(kept).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) await c.query({ name: 'note', text, values: [id, `again ${i}`] });
    expect(await ours()).toBe(kept);
    await c.query('DISCARD ALL');
    await c.query({ name: 'note_after', text, values: [id, 'after discard'] });
    expect((await s.mirror('customers', id))!.notes).toBe('after discard');
  });

  it('RETURNING in binary when the client asks for it (UPDATE and DELETE)', async () => {
    const c = await s.connect();
    const [id] = await someIds('customers', 1);
    // node-postgres asks for binary results with `binary` (not in its types).
    const binary = (q: { text: string; values: unknown[] }) => ({ ...q, binary: true }) as pg.QueryConfig;
    const r = await c.query(
      binary({
        text: 'UPDATE customers SET active = $2 WHERE id = $1 RETURNING id, active, customer_no',
        values: [id, true],
      }),
    );
    expect(r.fields.map((f) => f.format)).toEqual(['binary', 'binary', 'binary']);
    expect(r.rows[0].id).toBe(id);
    expect(r.rows[0].active).toBe(true);
    const made = await c.query(`INSERT INTO customers (name) VALUES ('binary gone') RETURNING id`);
    const d = await c.query(
      binary({ text: 'DELETE FROM customers WHERE id = $1 RETURNING id, name', values: [made.rows[0].id] }),
    );
    expect(d.rows).toEqual([{ id: made.rows[0].id, name: 'binary gone' }]);
  });

  it('matching no row sends nothing and answers UPDATE 0', async () => {
    const c = await s.connect();
    const r = await c.query(
      `UPDATE customers SET name = 'nobody' WHERE id = 'recNoSuchRecord00' RETURNING id`,
    );
    expect(r.rowCount).toBe(0);
    expect(r.rows).toEqual([]);
    expect(r.fields.map((f) => f.name)).toEqual(['id']);
  });

  it('records outbox events with origin sql', async () => {
    const c = await s.connect();
    const [id] = await someIds('customers', 1);
    await c.query(`UPDATE customers SET website = 'https://example.com/outbox' WHERE id = $1`, [id]);
    const e = await s.db.query<{ origin: string; op: string }>(
      sql(`SELECT origin, op FROM airmirror.outbox WHERE record_id = $1 ORDER BY id DESC LIMIT 1`, [id]),
    );
    expect(e.rows[0]).toEqual({ origin: 'sql', op: 'update' });
  });
});

describe('INSERT', () => {
  it('multi-row VALUES with parameters and DEFAULT, RETURNING id, created_time and the autoNumber Airtable assigned', async () => {
    const c = await s.connect();
    const r = await c.query(
      `INSERT INTO customers (name, tier, tags, active) VALUES ($1, 'Silver', '{VIP,Newsletter}', true), ('Bob', DEFAULT, NULL, DEFAULT)
       RETURNING id, name, tier, tags, active, created_time, customer_no`,
      ['Ada'],
    );
    expect(r.command).toBe('INSERT');
    expect(r.rowCount).toBe(2);
    expect(r.rows.map((x) => x.name)).toEqual(['Ada', 'Bob']);
    expect(r.rows[0]).toMatchObject({ tier: 'Silver', tags: ['VIP', 'Newsletter'], active: true });
    expect(r.rows[1]).toMatchObject({ tier: null, tags: null, active: false });
    for (const row of r.rows) {
      const at = await s.airtable('Customers', row.id);
      expect(at).toBeDefined();
      expect(new Date(at!.createdTime).getTime()).toBe(row.created_time.getTime());
      expect(at!.fields[fieldId('customers', 'customer_no')]).toBe(Number(row.customer_no));
      expect((await s.mirror('customers', row.id))!.name).toBe(row.name);
    }
    expect((await s.airtable('Customers', r.rows[0].id))!.fields[fieldId('customers', 'tags')]).toEqual([
      'VIP',
      'Newsletter',
    ]);
  });

  it('INSERT … SELECT copies rows Postgres selects', async () => {
    const c = await s.connect();
    const before = (await s.airtableAll('Products')).length;
    const r = await c.query(
      `INSERT INTO products (name, price, stock) SELECT name || ' (copy)', price, 1 FROM products ORDER BY id LIMIT 3 RETURNING id, name`,
    );
    expect(r.rowCount).toBe(3);
    expect(r.rows.every((x) => x.name.endsWith(' (copy)'))).toBe(true);
    expect((await s.airtableAll('Products')).length).toBe(before + 3);
    for (const row of r.rows) expect((await s.mirror('products', row.id))!.stock).toBe('1');
  });

  it('DEFAULT VALUES creates an empty record', async () => {
    const c = await s.connect();
    const r = await c.query('INSERT INTO orders DEFAULT VALUES RETURNING id');
    expect(r.rowCount).toBe(1);
    expect(await s.airtable('Orders', r.rows[0].id)).toBeDefined();
    expect(await s.mirror('orders', r.rows[0].id)).toBeDefined();
  });

  it('a date and a time go to Airtable as ISO whatever the session DateStyle and TimeZone', async () => {
    const c = await s.connect();
    await c.query(`SET DateStyle = 'SQL, DMY'`);
    await c.query(`SET TimeZone = 'America/New_York'`);
    // "Order" is a reserved word: its column has a suffix (the mapping knows it).
    const order = s.table('Orders').columns.find((x) => x.fieldName === 'Order')!.column;
    const r = await c.query(
      `INSERT INTO orders ("${order}", ship_by, ordered_at) VALUES ('tz', '03/04/2025', '03/04/2025 10:30') RETURNING id`,
    );
    const at = await s.airtable('Orders', r.rows[0].id);
    expect(at!.fields[fieldId('orders', 'ship_by')]).toBe('2025-04-03');
    expect(at!.fields[fieldId('orders', 'ordered_at')]).toBe('2025-04-03T14:30:00.000Z');
  });
});

describe('DELETE', () => {
  it('DELETE … WHERE … RETURNING answers the rows as they were; Airtable and the mirror no longer have them', async () => {
    const c = await s.connect();
    const made = await c.query(`INSERT INTO customers (name) VALUES ('gone 1'), ('gone 2') RETURNING id`);
    const r = await c.query(`DELETE FROM customers WHERE name LIKE 'gone %' RETURNING id, name`);
    expect(r.command).toBe('DELETE');
    expect(r.rowCount).toBe(2);
    expect(r.rows.map((x) => x.name).sort()).toEqual(['gone 1', 'gone 2']);
    for (const { id } of made.rows) {
      expect(await s.airtable('Customers', id)).toBeUndefined();
      expect(await s.mirror('customers', id)).toBeUndefined();
    }
  });

  it('a prepared DELETE with a parameter and USING', async () => {
    const c = await s.connect();
    const made = await c.query(`INSERT INTO products (name) VALUES ('doomed') RETURNING id`);
    const r = await c.query(
      'DELETE FROM products p USING (SELECT $1::text AS victim) v WHERE p.id = v.victim RETURNING p.name',
      [made.rows[0].id],
    );
    expect(r.rows).toEqual([{ name: 'doomed' }]);
    expect(await s.airtable('Products', made.rows[0].id)).toBeUndefined();
  });
});

describe('names that resolve to a mirror table', () => {
  it('schema-qualified and quoted', async () => {
    const c = await s.connect();
    const [id] = await someIds('customers', 1);
    await c.query(`UPDATE "public"."customers" AS cu SET "name" = 'Quoted' WHERE cu."id" = $1`, [id]);
    expect((await s.airtable('Customers', id))!.fields[fieldId('customers', 'name')]).toBe('Quoted');
  });

  it('through search_path; a temporary table of the same name shadows the mirror table', async () => {
    const c = await s.connect();
    await c.query('CREATE SCHEMA IF NOT EXISTS elsewhere');
    await c.query('SET search_path = elsewhere, public');
    const [id] = await someIds('customers', 1);
    await c.query(`UPDATE customers SET name = 'Via search_path' WHERE id = $1`, [id]);
    expect((await s.airtable('Customers', id))!.fields[fieldId('customers', 'name')]).toBe('Via search_path');

    const before = (await s.airtableAll('Customers')).length;
    await c.query('CREATE TEMP TABLE customers (id text, name text)');
    const r = await c.query(`INSERT INTO customers VALUES ('local', 'only here') RETURNING name`);
    expect(r.rows).toEqual([{ name: 'only here' }]);
    expect((await s.airtableAll('Customers')).length).toBe(before);
  });

  it('in one query string, a write resolves its table after the statements before it ran', async () => {
    const c = await s.connect();
    const before = (await s.airtableAll('Customers')).length;
    await c.query(
      `CREATE TEMP TABLE customers (id text, name text); INSERT INTO customers VALUES ('t', 'temp only')`,
    );
    expect((await c.query('SELECT name FROM customers')).rows).toEqual([{ name: 'temp only' }]);
    expect((await s.airtableAll('Customers')).length).toBe(before);
    const [id] = await someIds('customers', 1);
    await c.query(
      `DROP TABLE pg_temp.customers; UPDATE customers SET name = 'after drop' WHERE id = '${id}'`,
    );
    expect((await s.airtable('Customers', id))!.fields[fieldId('customers', 'name')]).toBe('after drop');
  });

  it('writes to other tables pass through to Postgres', async () => {
    const c = await s.connect();
    await c.query('CREATE TABLE notes_of_mine (id serial PRIMARY KEY, body text)');
    const r = await c.query(`INSERT INTO notes_of_mine (body) VALUES ('hello'), ('world') RETURNING id`);
    expect(r.rowCount).toBe(2);
    expect((await c.query('UPDATE notes_of_mine SET body = upper(body)')).rowCount).toBe(2);
    expect((await c.query('DELETE FROM notes_of_mine')).rowCount).toBe(2);
  });
});
