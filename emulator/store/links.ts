import type { StoredBase } from './base.ts';
import type { StoredTable } from './table.ts';
import type { ChangeTracker } from './tracker.ts';
import type { StoredField, StoredRecord } from './types.ts';

/*
 * Link bookkeeping a write does besides setting its own cells: the inverse side of a reciprocal
 * link follows each change, and a deleted record disappears from every link cell pointing at it.
 */

/** Keep the inverse field of a reciprocal link in step with one record's link cell. */
export function syncInverse(
  base: StoredBase,
  table: StoredTable,
  recId: string,
  f: StoredField,
  before: string[],
  after: string[],
  tracker: ChangeTracker | undefined,
  userId: string,
  now: number,
): void {
  const target = base.tables.find((t) => t.id === f.options?.linkedTableId);
  const inverseId = f.options?.inverseLinkFieldId as string | undefined;
  if (!target || !inverseId || !target.fieldById(inverseId)) return;
  const removed = before.filter((id) => !after.includes(id));
  const added = after.filter((id) => !before.includes(id));
  for (const [ids, add] of [
    [removed, false],
    [added, true],
  ] as const) {
    for (const otherId of ids) {
      const other = target.get(otherId);
      if (!other) continue;
      tracker?.touch(target, other);
      const list = (other.cells[inverseId] as string[] | undefined) ?? [];
      const next = add ? (list.includes(recId) ? list : [...list, recId]) : list.filter((x) => x !== recId);
      const copy: StoredRecord = { ...other, cells: { ...other.cells }, edits: { ...other.edits } };
      if (next.length) copy.cells[inverseId] = next;
      else delete copy.cells[inverseId];
      copy.edits![inverseId] = { at: now, by: userId };
      target.put(copy);
    }
  }
}

/** Remove a deleted record's id from link cells pointing at it (one-way links included). */
export function unlinkEverywhere(
  base: StoredBase,
  table: StoredTable,
  id: string,
  tracker: ChangeTracker | undefined,
) {
  for (const t of base.tables) {
    const links = t.fields.filter(
      (f) => f.type === 'multipleRecordLinks' && f.options?.linkedTableId === table.id,
    );
    if (links.length === 0 || t.size > 100_000) continue;
    for (const r of t.iterate()) {
      const hit = links.filter((f) => (r.cells[f.id] as string[] | undefined)?.includes(id));
      if (hit.length === 0) continue;
      tracker?.touch(t, r);
      const copy: StoredRecord = { ...r, cells: { ...r.cells } };
      for (const f of hit) {
        const next = (r.cells[f.id] as string[]).filter((x) => x !== id);
        if (next.length) copy.cells[f.id] = next;
        else delete copy.cells[f.id];
      }
      t.put(copy);
    }
  }
}
