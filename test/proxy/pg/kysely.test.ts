/**
 * Issue 15 with a query builder on top of node-postgres (Kysely, its pg pool unchanged except
 * for the port): inserts, updates and deletes with RETURNING reach Airtable and the mirror;
 * refusals and the transaction policy arrive as the errors Kysely throws.
 */
import { Kysely, PostgresDialect, sql as ksql, type Generated } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usePgEndpoint } from './harness.ts';

interface Customers {
  id: Generated<string>;
  name: string | null;
  tier: string | null;
  tags: string[] | null;
  active: Generated<boolean>;
  customer_no: Generated<string | null>;
}

const s = usePgEndpoint();
let db: Kysely<{ customers: Customers }>;

beforeAll(() => {
  db = new Kysely({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: s.endpointUrl, max: 3 }) }),
  });
});
// Registered after usePgEndpoint's: afterAll hooks run last-registered first, so the pool ends
// before the endpoint closes.
afterAll(() => db?.destroy());

const fieldId = (column: string) => s.table('Customers').columns.find((c) => c.column === column)!.fieldId;

describe('Kysely', () => {
  it('insert, update and delete with returning', async () => {
    const made = await db
      .insertInto('customers')
      .values([
        { name: 'Kysely one', tier: 'Bronze', tags: ['VIP'] },
        { name: 'Kysely two', active: true },
      ])
      .returning(['id', 'name', 'customer_no'])
      .execute();
    expect(made.map((r) => r.name)).toEqual(['Kysely one', 'Kysely two']);
    for (const r of made) {
      const at = await s.airtable('Customers', r.id);
      expect(at!.fields[fieldId('name')]).toBe(r.name);
      expect(at!.fields[fieldId('customer_no')]).toBe(Number(r.customer_no));
    }

    const updated = await db
      .updateTable('customers')
      .set({ tier: 'Gold', name: ksql<string>`name || ' (gold)'` })
      .where(
        'id',
        'in',
        made.map((r) => r.id),
      )
      .returning(['id', 'name', 'tier'])
      .execute();
    expect(updated.map((r) => r.name).sort()).toEqual(['Kysely one (gold)', 'Kysely two (gold)']);
    for (const r of made) {
      expect((await s.airtable('Customers', r.id))!.fields[fieldId('tier')]).toBe('Gold');
      expect((await s.mirror('customers', r.id))!.tier).toBe('Gold');
    }

    const deleted = await db.deleteFrom('customers').where('name', 'like', 'Kysely %').executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(2n);
    for (const r of made) {
      expect(await s.airtable('Customers', r.id)).toBeUndefined();
      expect(await s.mirror('customers', r.id)).toBeUndefined();
    }
  });

  it('a refusal is the error Kysely throws, with the SQLSTATE', async () => {
    await expect(
      db
        .updateTable('customers')
        .set({ tier: 'Nonexistent' })
        .where('id', '=', 'recAnything000000')
        .execute(),
    ).resolves.toEqual([expect.objectContaining({ numUpdatedRows: 0n })]);
    const [row] = await db.selectFrom('customers').select('id').orderBy('id').limit(1).execute();
    await expect(
      db.updateTable('customers').set({ tier: 'Nonexistent' }).where('id', '=', row.id).execute(),
    ).rejects.toMatchObject({ code: '22023', column: 'tier' });
  });

  it('a write inside db.transaction() is refused by default and rolled back', async () => {
    const [row] = await db.selectFrom('customers').select(['id', 'name']).orderBy('id').limit(1).execute();
    await expect(
      db.transaction().execute(async (trx) => {
        await trx
          .updateTable('customers')
          .set({ name: 'in a transaction' })
          .where('id', '=', row.id)
          .execute();
      }),
    ).rejects.toMatchObject({ code: '25001' });
    expect((await s.mirror('customers', row.id))!.name).toBe(row.name);
  });
});
