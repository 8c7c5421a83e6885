import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { DEMO_BASE_ID } from '../../emulator/index.ts';
import { applyRecords, deleteUnseen } from '../../src/mirror/apply.ts';
import { takeFence } from '../../src/mirror/fence.ts';
import { verifySource } from '../../sync/verify.ts';
import { createTestDatabase } from '../support/db.ts';
import { startStack, type Stack } from './harness.ts';

let db: Database;
let s: Stack;
beforeAll(async () => {
  ({ db } = await createTestDatabase());
  s = await startStack(db);
});
afterAll(() => s.close());

/** One app: creates its records, patches, replaces, upserts and deletes some, all through airtable.js. */
async function writer(n: number): Promise<void> {
  const table = s.base('Customers');
  const mine = await table.create([
    { fields: { Name: `w${n}-a` } },
    { fields: { Name: `w${n}-b` } },
    { fields: { Name: `w${n}-c` } },
  ]);
  for (let round = 0; round < 3; round++) {
    await table.update(mine[0].id, { Notes: `w${n} round ${round}` });
    await table.replace(mine[1].id, { Name: `w${n}-b`, Email: `w${n}.${round}@example.com` });
  }
  await table.update(
    [{ fields: { Name: `w${n}-u`, Notes: 'upserted' } }] as never,
    {
      performUpsert: { fieldsToMergeOn: ['Name'] },
    } as never,
  );
  await table.destroy(mine[2].id);
}

/** A sweep as the syncer runs it: fence, complete listing, page applies, delete phase. */
async function sweep(): Promise<void> {
  const t = s.table('Customers');
  const fence = await takeFence(db);
  const seen: string[] = [];
  const pages: AirtableRecord[][] = [];
  for await (const page of s.client.listAllRecords(DEMO_BASE_ID, t.tableId, { pageSize: 10 })) {
    pages.push(page.records);
    seen.push(...page.records.map((r) => r.id));
    // Let proxy writes land between fetching and applying pages.
    await new Promise((r) => setImmediate(r));
  }
  for (const p of pages)
    await applyRecords(db, t, p, { origin: 'sweep', sourceId: s.sourceId, fetchedBefore: fence });
  await deleteUnseen(db, t, seen, { sourceId: s.sourceId, origin: 'sweep', listingFence: fence });
}

it('20 concurrent writers interleaved with sweeps leave the mirror equal to Airtable', async () => {
  let writing = true;
  let sweeps = 0;
  const sweeper = (async () => {
    while (writing) {
      await sweep();
      sweeps++;
    }
  })();
  await Promise.all(Array.from({ length: 20 }, (_, i) => writer(i)));
  writing = false;
  await sweeper;
  expect(sweeps).toBeGreaterThan(0);
  expect(s.proxy.catchup.pending()).toBe(0);

  // No final sweep: what the mirror holds now is what the proxy and the fenced sweeps left.
  const t = s.table('Customers');
  const report = await verifySource({ db, client: s.client }, s.sourceId, { tableIds: [t.tableId] });
  const drift = report.tables[0];
  expect(drift.airtable).toBeGreaterThan(20 * 3);
  expect([drift.missing, drift.extra, drift.different, drift.examples]).toEqual([
    0,
    0,
    0,
    { missing: [], extra: [], different: [] },
  ]);
});
