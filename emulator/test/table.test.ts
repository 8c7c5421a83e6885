import { describe, expect, it } from 'vitest';
import { indexedIds } from '../ids.ts';
import { StoredTable } from '../store/table.ts';
import type { StoredRecord } from '../store/types.ts';

const field = { id: 'fldName0000000001', name: 'Name', type: 'singleLineText' };

function generatedTable(count: number) {
  const ids = indexedIds('rec', 'Salt1234');
  const make = (i: number): StoredRecord => ({
    id: ids.idAt(i),
    createdTime: i,
    seq: i,
    cells: { [field.id]: `g${i}` },
    createdBy: 'usr',
  });
  return new StoredTable(
    'tblTest0000000001',
    'T',
    { fields: [field], views: [] },
    { count, idAt: ids.idAt, indexOf: ids.indexOf, make },
  );
}

describe('StoredTable', () => {
  it('generated ids are 17-char record ids that map back to their row', () => {
    const ids = indexedIds('rec', 'Salt1234');
    for (const i of [0, 1, 61, 62, 99_999, 1_000_000, 4_294_967_295]) {
      const id = ids.idAt(i);
      expect(id).toMatch(/^rec[A-Za-z0-9]{14}$/);
      expect(ids.indexOf(id)).toBe(i);
    }
    expect(new Set(Array.from({ length: 10_000 }, (_, i) => ids.idAt(i))).size).toBe(10_000);
    expect(ids.indexOf('recSomethingElse1')).toBe(-1);
  });

  it('keeps creation order, size and seeks across generated, edited, created and deleted rows', () => {
    const t = generatedTable(10);
    const edited = { ...t.get(t.iterate(4).next().value!.id)!, cells: { [field.id]: 'edited' } };
    t.put(edited);
    t.delete(t.iterate(1).next().value!.id); // row 2
    const created: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const seq = t.takeSeq();
      const id = `recCreated${String(i).padStart(7, '0')}`;
      t.put({ id, createdTime: seq, seq, cells: {}, createdBy: 'usr' });
      created.push(id);
    }
    // delete most created records (forces compaction of the created index)
    for (let i = 0; i < 2500; i++) t.delete(created[i]);
    expect(t.size).toBe(9 + 500);
    const all = [...t.iterate()];
    expect(all).toHaveLength(509);
    expect(all.map((r) => r.seq)).toEqual([...all.map((r) => r.seq)].sort((a, b) => a - b));
    expect(all[4].cells[field.id]).toBe('edited');
    expect(all.slice(9).map((r) => r.id)).toEqual(created.slice(2500));
    const after = [...t.iterate(created.length + 10 - 100)];
    expect(after.map((r) => r.id)).toEqual(created.slice(-99));
  });
});
