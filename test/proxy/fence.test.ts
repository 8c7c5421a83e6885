import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { sql } from '../../src/db/sql.ts';
import { DEMO_BASE_ID } from '../../emulator/index.ts';
import { applyRecords, deleteUnseen } from '../../src/mirror/apply.ts';
import { takeFence } from '../../src/mirror/fence.ts';
import { createTestDatabase } from '../support/db.ts';
import { startStack, type Stack } from './harness.ts';

/**
 * Invariant 4, with the interleaving forced: a sweep takes its fence and fetches its pages,
 * then a write goes through the proxy, then the sweep applies the (now stale) pages. The
 * proxy's write must survive.
 */
let db: Database;
let s: Stack;
beforeAll(async () => {
  ({ db } = await createTestDatabase());
  s = await startStack(db);
});
afterAll(() => s.close());

async function fetchAll(tableId: string): Promise<AirtableRecord[]> {
  const out: AirtableRecord[] = [];
  for await (const page of s.client.listAllRecords(DEMO_BASE_ID, tableId)) out.push(...page.records);
  return out;
}

const notesOf = async (id: string) =>
  (await db.query<{ notes: string | null }>(sql('SELECT notes FROM public.customers WHERE id = $1', [id])))
    .rows;

it('a page fetched before a proxy update cannot roll the update back', async () => {
  const t = s.table('Customers');
  const r = await s.base('Customers').create({ Name: 'Fenced', Notes: 'v1' });
  const fence = await takeFence(db);
  const stalePage = await fetchAll(t.tableId);
  expect(stalePage.find((x) => x.id === r.id)).toBeDefined();

  await s.base('Customers').update(r.id, { Notes: 'v2' });
  expect(await notesOf(r.id)).toEqual([{ notes: 'v2' }]);

  const applied = await applyRecords(db, t, stalePage, {
    origin: 'sweep',
    sourceId: s.sourceId,
    fetchedBefore: fence,
  });
  expect(applied.fencedOut).toBe(1);
  expect(await notesOf(r.id)).toEqual([{ notes: 'v2' }]);

  // Control: without the fence the same page would have rolled it back.
  const later = await takeFence(db);
  await applyRecords(db, t, stalePage, { origin: 'sweep', sourceId: s.sourceId, fetchedBefore: later });
  expect(await notesOf(r.id)).toEqual([{ notes: 'v1' }]);
});

it('a page fetched before a proxy delete cannot resurrect the row', async () => {
  const t = s.table('Customers');
  const r = await s.base('Customers').create({ Name: 'Doomed', Notes: 'x' });
  const fence = await takeFence(db);
  const stalePage = await fetchAll(t.tableId);
  await s.base('Customers').destroy(r.id);
  expect(await notesOf(r.id)).toEqual([]);
  await applyRecords(db, t, stalePage, { origin: 'sweep', sourceId: s.sourceId, fetchedBefore: fence });
  expect(await notesOf(r.id)).toEqual([]);
});

it("a sweep's delete phase spares a row created through the proxy after its listing began", async () => {
  const t = s.table('Customers');
  const fence = await takeFence(db);
  const listing = await fetchAll(t.tableId);
  const r = await s.base('Customers').create({ Name: 'Born mid-sweep', Notes: 'new' });
  await applyRecords(db, t, listing, { origin: 'sweep', sourceId: s.sourceId, fetchedBefore: fence });
  const gone = await deleteUnseen(
    db,
    t,
    listing.map((x) => x.id),
    { sourceId: s.sourceId, origin: 'sweep', listingFence: fence },
  );
  expect(gone.ids).not.toContain(r.id);
  expect(await notesOf(r.id)).toEqual([{ notes: 'new' }]);
});
