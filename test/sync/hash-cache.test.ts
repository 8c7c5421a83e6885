import { describe, expect, it } from 'vitest';
import { createHashCache, recordHash } from '../../sync/hash-cache.ts';

const rec = (fields: Record<string, unknown>, id = 'recAAAAAAAAAAAAAA') => ({
  id,
  createdTime: '2024-01-01T00:00:00.000Z',
  fields,
});

describe('recordHash', () => {
  it('is the same for the same record and sees every value change', () => {
    const a = recordHash(rec({ fldA: 'x', fldB: [1, 2] }));
    expect(recordHash(rec({ fldA: 'x', fldB: [1, 2] }))).toBe(a);
    expect(recordHash(rec({ fldA: 'x', fldB: [2, 1] }))).not.toBe(a);
    expect(recordHash(rec({ fldA: 'x' }))).not.toBe(a);
    expect(recordHash(rec({ fldA: 'x', fldB: [1, 2] }, 'recBBBBBBBBBBBBBB'))).not.toBe(a);
    expect(
      recordHash({ ...rec({ fldA: 'x', fldB: [1, 2] }), createdTime: '2024-01-02T00:00:00.000Z' }),
    ).not.toBe(a);
    // a value moved to another field is a change
    expect(recordHash(rec({ fldA: 'y' }))).not.toBe(recordHash(rec({ fldB: 'y' })));
    expect(Number.isSafeInteger(a)).toBe(true);
  });
});

describe('hash cache', () => {
  it('knows a record only with the hash it learned, per table', () => {
    const c = createHashCache({ max: 10 });
    c.learn('tblA', 'rec1', 42);
    expect(c.isKnown('tblA', 'rec1', 42)).toBe(true);
    expect(c.isKnown('tblA', 'rec1', 43)).toBe(false);
    expect(c.isKnown('tblB', 'rec1', 42)).toBe(false);
    c.forget('tblA', 'rec1');
    expect(c.isKnown('tblA', 'rec1', 42)).toBe(false);
  });

  it('is bounded and evicts the least recently used', () => {
    const c = createHashCache({ max: 3 });
    for (let i = 0; i < 5; i++) c.learn('tbl', `rec${i}`, i);
    expect(c.size).toBe(3);
    expect(c.isKnown('tbl', 'rec0', 0)).toBe(false);
    expect(c.isKnown('tbl', 'rec4', 4)).toBe(true);
  });

  it('keeps entries it was asked about: eviction is least recently used across tables', () => {
    const c = createHashCache({ max: 4 });
    c.learn('tblA', 'rec1', 1);
    c.learn('tblA', 'rec2', 2);
    c.learn('tblB', 'rec1', 1);
    c.learn('tblB', 'rec2', 2);
    expect(c.isKnown('tblA', 'rec1', 1)).toBe(true); // tblA:rec1 is now the most recent
    c.learn('tblC', 'rec1', 1); // evicts the least recently used entry: tblA:rec2
    expect(c.size).toBe(4);
    expect(c.isKnown('tblA', 'rec2', 2)).toBe(false);
    expect(c.isKnown('tblA', 'rec1', 1)).toBe(true);
    expect(c.isKnown('tblB', 'rec1', 1)).toBe(true);
    c.learn('tblC', 'rec2', 2); // now tblB:rec2 is the least recently used
    expect(c.isKnown('tblB', 'rec2', 2)).toBe(false);
    expect(c.size).toBe(4);
    c.learn('tblC', 'rec2', 3); // relearning an entry does not grow the cache
    expect(c.size).toBe(4);
    expect(c.isKnown('tblC', 'rec2', 3)).toBe(true);
  });

  it('forgets a whole table and nothing else', () => {
    const c = createHashCache({ max: 100 });
    c.learn('tblA', 'rec1', 1);
    c.learn('tblA', 'rec2', 2);
    c.learn('tblB', 'rec1', 1);
    c.forgetTable('tblA');
    expect(c.size).toBe(1);
    expect(c.isKnown('tblB', 'rec1', 1)).toBe(true);
  });

  it('with size 0 never claims to know a record', () => {
    const c = createHashCache({ max: 0 });
    c.learn('tbl', 'rec1', 1);
    expect(c.isKnown('tbl', 'rec1', 1)).toBe(false);
  });
});
