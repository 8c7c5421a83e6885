import { beforeAll, describe, expect, it } from 'vitest';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { recordHash } from '../../sync/hash-cache.ts';
import { PageMemo, recordsSpan } from '../../sync/page-memo.ts';
import { decodeSweepPage } from '../../sync/sweep.ts';
import { createTestDatabase, type TestDatabase } from '../support/db.ts';
import { harness, rowVersions, type Harness } from './fixture.ts';

const records = [
  { id: 'recAAAAAAAAAAAAAA', createdTime: '2024-01-01T00:00:00.000Z', fields: { fldA: 'x "y" ]' } },
  { id: 'recBBBBBBBBBBBBBB', createdTime: '2024-01-02T00:00:00.000Z', fields: { fldA: 'z' } },
];
const page = (offset?: string, recs: unknown[] = records) => JSON.stringify({ records: recs, offset });

describe('recordsSpan', () => {
  it('finds the records array and the offset of compact pages', () => {
    const text = page('itrX/recB');
    const span = recordsSpan(text)!;
    expect(text.slice(span.start, span.end)).toBe(JSON.stringify(records));
    expect(span.offset).toBe('itrX/recB');
    const last = page();
    const lastSpan = recordsSpan(last)!;
    expect(last.slice(lastSpan.start, lastSpan.end)).toBe(JSON.stringify(records));
    expect(lastSpan.offset).toBeUndefined();
  });

  it('declines other layouts', () => {
    for (const text of [
      '{ "records": [] }',
      '{"offset":"a","records":[]}',
      '{"records":[],"offset":"a\\"b"}',
      '{"records":[],"offset":"a","x":1}',
      '{"records":{}}',
    ]) {
      expect(recordsSpan(text), text).toBeUndefined();
    }
  });
});

describe('decodeSweepPage with a memo', () => {
  it('takes ids and hashes of a page whose records were seen before from the memo, whatever the offset', () => {
    const memo = new PageMemo();
    memo.startListing();
    const first = decodeSweepPage(page('itr1/recB'), memo);
    expect([first.hash(0), first.hash(1)]).toEqual(records.map(recordHash));
    expect(memo.size).toBe(1);

    memo.startListing();
    // Mark what the memo holds, to see that the next decode of these records reads it.
    const [entry] = [
      ...(memo as unknown as { previous: Map<string, { hashes: number[] }> }).previous.values(),
    ];
    entry.hashes = [1, 2];
    const again = decodeSweepPage(page('itr2/recB'), memo);
    expect(again.offset).toBe('itr2/recB');
    expect([again.id(0), again.id(1)]).toEqual(records.map((r) => r.id));
    expect([again.hash(0), again.hash(1)]).toEqual([1, 2]);
    // a record is still there when wanted (the page is scanned then)
    expect(again.record(1)).toEqual(records[1]);

    // one changed record: another page, decoded from its text
    const changed = [records[0], { ...records[1], fields: { fldA: 'changed' } }];
    const other = decodeSweepPage(page('itr2/recB', changed), memo);
    expect(other.hash(1)).toBe(recordHash(changed[1]));
    expect(other.hash(0)).toBe(recordHash(records[0]));
  });

  it('does not remember a page whose offset is not where the fast path reads it', () => {
    const memo = new PageMemo();
    memo.startListing();
    // ends in `]}` (no offset at the tail) although the page has one
    const text = `{"records":${JSON.stringify(records)},"offset":"itr1/recB","x":[1]}`;
    expect(recordsSpan(text)!.offset).toBeUndefined();
    expect(decodeSweepPage(text, memo).offset).toBe('itr1/recB');
    expect(memo.size).toBe(0);
    memo.startListing();
    expect(decodeSweepPage(text, memo).offset).toBe('itr1/recB');
  });

  it('keeps only the pages of the last two listings', () => {
    const memo = new PageMemo();
    for (let i = 0; i < 4; i++) {
      memo.startListing();
      decodeSweepPage(page(undefined, [{ ...records[0], fields: { n: i } }]), memo);
    }
    expect(memo.size).toBe(2);
  });
});

describe('a sweep over remembered pages', () => {
  let t: TestDatabase;
  let h: Harness;
  beforeAll(async () => {
    t = await createTestDatabase();
    h = await harness(t.db, { emulator: { records: 250 }, budgetPerSecond: 1000 });
    await h.syncer.syncAll();
    await h.syncer.syncAll();
  });

  it('skips nothing the cache forgot: a forgotten record on an unchanged page is written again', async () => {
    const orders = await h.table('Orders');
    const target = quoteQualified(orders.schema, orders.table);
    const { rows } = await t.db.query<{ id: string }>(sql(`SELECT id FROM ${target} ORDER BY id LIMIT 1`));
    const id = rows[0].id;
    // The row drifts (as if another writer changed it) and the cache forgets the record.
    await t.db.query(sql(`UPDATE ${target} SET created_time = '2000-01-01T00:00:00Z' WHERE id = $1`, [id]));
    h.syncer.hashCache.forget(orders.tableId, id);
    const before = await rowVersions(t.db, orders);

    const [res] = await h.syncer.syncAll();
    const r = res.tables.find((x) => x.tableName === 'Orders')!;
    expect(r.counters).toMatchObject({ seen: 250, cached: 249, updated: 1, inserted: 0 });
    const after = await rowVersions(t.db, orders);
    expect(after.filter((v, i) => v !== before[i])).toHaveLength(1);
    expect((await h.verify()).drift).toBe(0);
  });
});
