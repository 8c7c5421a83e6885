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
