import { beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import type { SyncProgress } from '../../sync/syncer.ts';
import { harness, type Harness } from './fixture.ts';

/** SyncerDeps.onProgress (issue 7): per-page reports with growing counts, then 'done' per table. */
let t: TestDatabase;
let h: Harness;
const events: SyncProgress[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  h = await harness(t.db, {
    emulator: { records: 250 },
    budgetPerSecond: 1000,
    syncer: { onProgress: (e) => events.push(e) },
  });
});

const ofTable = (name: string) => events.filter((e) => e.tableName === name);

function expectGrowing(list: SyncProgress[]) {
  for (let i = 1; i < list.length; i++) {
    expect(list[i].pages).toBeGreaterThanOrEqual(list[i - 1].pages);
    expect(list[i].records).toBeGreaterThanOrEqual(list[i - 1].records);
  }
}

describe('onProgress', () => {
  it('reports each page of the first sync (a rebuild) with growing counts, then done', async () => {
    const [res] = await h.syncer.syncAll();
    expect(res.rebuilt).toBe(true);
    const orders = ofTable('Orders');
    // 250 records: pages of 100, 100, 50, then the end of the table
    expect(orders.map((e) => [e.phase, e.pages, e.records])).toEqual([
      ['listing', 1, 100],
      ['listing', 2, 200],
      ['listing', 3, 250],
      ['done', 3, 250],
    ]);
    const first = orders[0];
    expect(first.tableId).toBe(h.tableId('Orders'));
    expect(first.sourceId).toBe(res.sourceId);
    expect(first.mirrorTable).toBe('orders');
    expect(orders.every((e) => e.startedAt === first.startedAt)).toBe(true);
    // every table of the base ends with one 'done'
    for (const name of ['Customers', 'Products', 'Orders']) {
      expect(ofTable(name).filter((e) => e.phase === 'done')).toHaveLength(1);
    }
  });

  it('reports the listing, the delete phase and the end of an in-place sweep, in that order', async () => {
    events.length = 0;
    const [res] = await h.syncer.syncAll();
    expect(res.rebuilt).toBe(false);
    const orders = ofTable('Orders');
    expect(orders.map((e) => e.phase)).toEqual(['listing', 'listing', 'listing', 'deleting', 'done']);
    expectGrowing(orders);
    expect(orders.at(-1)).toMatchObject({ pages: 3, records: 250 });
  });

  it('a throwing listener does not fail the sync', async () => {
    const failing = await harness(t.db, {
      emulator: { records: 120 },
      budgetPerSecond: 1000,
      syncer: {
        onProgress: () => {
          throw new Error('listener bug');
        },
      },
    });
    const [res] = await failing.syncer.syncAll();
    expect(res.error).toBeUndefined();
    expect(res.tables.map((x) => x.status)).toEqual(['Completed', 'Completed', 'Completed']);
    expect(res.tables.find((x) => x.tableName === 'Orders')!.counters.seen).toBe(120);
  });
});
