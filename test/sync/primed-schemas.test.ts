import { describe, expect, it } from 'vitest';
import type { BaseSchema } from '../../src/airtable/types.ts';
import { PRIMED_SCHEMA_MS, PrimedSchemas } from '../../sync/primed-schemas.ts';

const schema = (name: string): BaseSchema => ({
  tables: [{ id: 'tblAAAAAAAAAAAAAA', name, primaryFieldId: 'fldAAAAAAAAAAAAAA', fields: [], views: [] }],
});

describe('PrimedSchemas', () => {
  it('hands a schema over once, while it is fresh', () => {
    let t = 1_000;
    const primed = new PrimedSchemas(() => t);
    primed.put('src1', schema('Orders'));
    t += PRIMED_SCHEMA_MS;
    expect(primed.take('src1')?.tables[0].name).toBe('Orders');
    expect(primed.take('src1')).toBeUndefined();
  });

  it('does not hand over a schema read too long ago, and forgets it', () => {
    let t = 1_000;
    const primed = new PrimedSchemas(() => t);
    primed.put('src1', schema('Orders'));
    t += PRIMED_SCHEMA_MS + 1;
    expect(primed.take('src1')).toBeUndefined();
    t = 1_000;
    expect(primed.take('src1')).toBeUndefined();
  });

  it('keeps sources apart, the newest schema of each', () => {
    const primed = new PrimedSchemas(() => 0);
    primed.put('src1', schema('Orders'));
    primed.put('src2', schema('Customers'));
    primed.put('src1', schema('Orders v2'));
    expect(primed.take('src2')?.tables[0].name).toBe('Customers');
    expect(primed.take('src1')?.tables[0].name).toBe('Orders v2');
  });

  it('stays bounded: lapsed entries go, and past the cap the oldest', () => {
    let t = 0;
    const primed = new PrimedSchemas(() => t);
    primed.put('old', schema('Old'));
    t += PRIMED_SCHEMA_MS + 1;
    for (let i = 0; i < 1_000; i++) primed.put(`s${i}`, schema(`T${i}`));
    expect(primed.take('old')).toBeUndefined();
    primed.put('one-more', schema('X'));
    expect(primed.take('s0')).toBeUndefined();
    expect(primed.take('s1')?.tables[0].name).toBe('T1');
    expect(primed.take('one-more')?.tables[0].name).toBe('X');
  });
});
