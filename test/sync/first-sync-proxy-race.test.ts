import { beforeAll, describe, expect, it } from 'vitest';
import { createProxy } from '../../proxy/app.ts';
import { insertCatchup } from '../../src/catchup/store.ts';
import { drainCatchup } from '../../src/catchup/drain.ts';
import { createPgWriter } from '../../proxy/pg-writer.ts';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import {
  API_URL,
  DEMO_BASE_ID,
  EMULATOR_TOKEN,
  emulatorFetch,
  harness,
  listingPause,
  SCHEMA,
  type Harness,
} from './fixture.ts';
import { waitUntil } from '../support/wait.ts';

/**
 * A write through the proxy while a base's FIRST sync is running: the mirror tables do not exist
 * yet, so the write cannot be applied, and the listing may already have passed the record — it
 * would keep the old version until the next full sync. The proxy queues such writes for catch-up
 * instead (writer result `pending`), and the catch-up applies them once the tables exist.
 */
let t: TestDatabase;
let h: Harness;
let firstPage: AirtableRecord[] = [];
const pause = listingPause((table) => table === h.tableId('Orders'));

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, {
    emulator: { records: 250 },
    budgetPerSecond: 1_000,
    wrapClient: pause.wrap,
  });
});

describe('a proxy write during the first sync of a base', () => {
  it('is queued, and the catch-up brings it into the mirror the first sync built', async () => {
    for await (const page of h.client.listAllRecords(DEMO_BASE_ID, h.tableId('Orders'), { pageSize: 100 })) {
      firstPage = page.records;
      break;
    }
    const target = firstPage[3];

    const paused = pause.pauseAfter(1);
    const sync = h.syncer.syncAll();
    await paused;
    const proxy = createProxy({
      upstreamUrl: API_URL,
      fetch: emulatorFetch(h.emulator),
      timeoutMs: 5_000,
      maxBodyBytes: 1_000_000,
      writer: createPgWriter({ db: t.db }),
      catchup: {
        enqueue: (items) => {
          const [first] = items;
          void t.db.query(insertCatchup(first.baseId, first.tableRef, items));
        },
      },
    });
    const res = await proxy.app.request(`/api.airtable.com/v0/${DEMO_BASE_ID}/Orders`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${EMULATOR_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        records: [{ id: target.id, fields: { Notes: 'written during the first sync' } }],
      }),
    });
    expect(res.status).toBe(200);
    const queued = await waitForQueued();
    expect(queued).toEqual([{ record_id: target.id, op: 'upsert' }]);

    pause.release();
    const [result] = await sync;
    expect(result.error).toBeUndefined();
    const orders = await h.table('Orders');
    const notes = async () =>
      (
        await t.db.query<{ notes: string | null }>(
          sql(`SELECT notes FROM ${quoteQualified(SCHEMA, orders.table)} WHERE id = $1`, [target.id]),
        )
      ).rows[0]?.notes;
    // The listing had passed the record: the first sync alone leaves the old version.
    expect(await notes()).not.toBe('written during the first sync');

    const drained = await drainCatchup({
      db: t.db,
      fetchRecords: ({ baseId, tableId, recordIds }) => h.client.getRecordsByIds(baseId, tableId, recordIds),
    });
    expect(drained).toMatchObject({ applied: 1, deleted: 0, remaining: 0 });
    expect(await notes()).toBe('written during the first sync');
    const report = await h.verify();
    expect(report.drift).toBe(0);
  });
});

/** The sink writes without being awaited: the queued ids once there are some. */
function waitForQueued(): Promise<{ record_id: string; op: string }[]> {
  return waitUntil(
    async () => {
      const r = await t.db.query<{ record_id: string; op: string }>(
        sql('SELECT record_id, op FROM airmirror.catchup'),
      );
      return r.rows.length > 0 ? r.rows : undefined;
    },
    { what: 'catch-up ids to be queued' },
  );
}
