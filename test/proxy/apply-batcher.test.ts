import { describe, expect, it } from 'vitest';
import { ApplyBatcher } from '../../proxy/apply-batcher.ts';
import type { AirtableRecord } from '../../src/airtable/types.ts';

const rec = (id: string): AirtableRecord => ({ id, createdTime: '2022-09-12T21:03:48.000Z', fields: {} });

describe('ApplyBatcher (group commit of concurrent proxy writes)', () => {
  it('writes arriving while an apply is in flight share the next one, in arrival order', async () => {
    const b = new ApplyBatcher();
    const batches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const apply = async (records: AirtableRecord[]) => {
      batches.push(records.map((r) => r.id));
      if (batches.length === 1) await gate;
    };
    const first = b.submit('t', [rec('rec1')], apply);
    const settled: string[] = [];
    const later = ['rec2', 'rec3', 'rec4'].map((id) =>
      b.submit('t', [rec(id)], apply).then(() => settled.push(id)),
    );
    const other = b.submit('other-table', [rec('recX')], apply);
    await other;
    expect(settled).toEqual([]); // nobody is answered before their transaction ran
    release();
    await Promise.all([first, ...later]);
    expect(batches).toEqual([['rec1'], ['recX'], ['rec2', 'rec3', 'rec4']]);
  });

  it('a failing batch is retried write by write, so only the bad write fails', async () => {
    const b = new ApplyBatcher();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const apply = async (records: AirtableRecord[]) => {
      calls++;
      if (calls === 1) await gate;
      if (records.some((r) => r.id === 'recBad')) throw new Error('bad record');
    };
    const first = b.submit('t', [rec('rec1')], apply);
    const good = b.submit('t', [rec('rec2')], apply);
    const bad = b.submit('t', [rec('recBad')], apply);
    release();
    await first;
    await expect(good).resolves.toBeUndefined();
    await expect(bad).rejects.toThrow('bad record');
    expect(calls).toBe(4); // first, the failed batch of two, then each alone
  });
});
