import { beforeAll, describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { harness, SCHEMA, type Harness } from './fixture.ts';

/**
 * A listing can return a record twice when it changes while being listed (its new version comes
 * back on a later page). A first sync fills the swap tables by COPY, which refuses a second row
 * for an id; the record must still end as its LAST listed version, in the same batch (1 000
 * records) or in a later one, with nothing lost around it.
 */
let t: TestDatabase;
let h: Harness;
let repeatOnPage: number;
let captured: { text: string; id: string } | undefined;

/** Page 1: remember its first record. Page `repeatOnPage`: append that record again, renamed. */
function rewritePage(pageNumber: number, text: string): string {
  const body = JSON.parse(text) as { records: AirtableRecord[]; offset?: string };
  if (pageNumber === 1 && !captured)
    captured = { text: JSON.stringify(body.records[0]), id: body.records[0].id };
  if (pageNumber === repeatOnPage && captured) {
    const again = JSON.parse(captured.text) as AirtableRecord;
    for (const [k, v] of Object.entries(again.fields))
      if (typeof v === 'string') again.fields[k] = `${v} (edited)`;
    body.records.push(again);
  }
  return JSON.stringify(body);
}

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, {
    emulator: { records: 1_500 },
    budgetPerSecond: 1_000,
    wrapClient: (c) => ({
      ...c,
      listAllPages(baseId, table, params, decode, opts) {
        let page = 0;
        // Only Orders is big enough to have the pages the test names.
        const isOrders = table === h.tableId('Orders');
        return c.listAllPages!(
          baseId,
          table,
          params,
          (text) => decode(isOrders ? rewritePage(++page, text) : text),
          opts,
        );
      },
    }),
  });
});

async function firstSync(page: number) {
  repeatOnPage = page;
  captured = undefined;
  await t.db.query(sql(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`));
  await t.db.query(sql('DELETE FROM airmirror.tables'));
  await t.db.query(sql('UPDATE airmirror.sources SET schema_hash = NULL'));
  h.syncer.hashCache.forgetTable(h.tableId('Orders'));
  const [res] = await h.syncer.syncAll();
  expect(res.error).toBeUndefined();
  expect(res.rebuilt).toBe(true);
  const orders = await h.table('Orders');
  const rows = await t.db.query<{ n: string }>(
    sql(`SELECT count(*)::text AS n FROM ${quoteQualified(SCHEMA, orders.table)}`),
  );
  const row = await t.db.query<Record<string, unknown>>(
    sql(`SELECT to_jsonb(o) AS r FROM ${quoteQualified(SCHEMA, orders.table)} o WHERE id = $1`, [
      captured!.id,
    ]),
  );
  return { res, count: Number(rows.rows[0].n), row: JSON.stringify(row.rows[0].r) };
}

describe('a record listed twice during a first sync (COPY into the swap table)', () => {
  it('in the same batch: the last version is kept, every record is there once', async () => {
    const { res, count, row } = await firstSync(3);
    const orders = res.tables.find((x) => x.tableName === 'Orders')!;
    expect(count).toBe(1_500);
    expect(orders.counters.seen).toBe(1_501);
    expect(orders.counters.inserted).toBe(1_500);
    expect(row).toContain('(edited)');
  });

  it('in a later batch: the COPY refused for the repeated id falls back to an update', async () => {
    const { res, count, row } = await firstSync(12);
    const orders = res.tables.find((x) => x.tableName === 'Orders')!;
    expect(count).toBe(1_500);
    expect(orders.counters.seen).toBe(1_501);
    expect(orders.counters.inserted).toBe(1_500);
    expect(orders.counters.updated).toBe(1);
    expect(row).toContain('(edited)');
  });

  it('verify then finds exactly the edited record different from Airtable, nothing missing', async () => {
    const report = await h.verify();
    const orders = report.tables.find((x) => x.tableName === 'Orders')!;
    expect(orders.missing).toBe(0);
    expect(orders.extra).toBe(0);
    expect(orders.different).toBe(1);
  });
});
