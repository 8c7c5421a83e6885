import type { StoredBase } from './base.ts';
import { isEmptyCell, sameCell } from './cell-values.ts';
import type { ChangeSource, StoreChange, TableChange } from './changes.ts';
import type { CellReader } from './computed.ts';
import type { StoredTable } from './table.ts';
import type { StoredRecord } from './types.ts';

const DEPENDENT_DEPTH = 3;

/**
 * Collects what one user action changed, for the change feed. Before a record is first
 * modified it snapshots that record and the records whose computed cells may depend on it
 * (those linking to it, a few hops deep); at the end it diffs the snapshots against the
 * current values, so computed-field recalculations show up as changes too (docs/airtable-reference.md §4.7).
 * Only used while someone listens: it costs scans of linking tables.
 */
export class ChangeTracker {
  private readonly before = new Map<
    string,
    { table: StoredTable; id: string; cells: Record<string, unknown> }
  >();
  private readonly tables: Record<string, TableChange> = {};
  private readonly createdRecords = new Map<string, { table: StoredTable; id: string }>();
  readonly change: StoreChange;

  constructor(
    private readonly base: StoredBase,
    private readonly reader: CellReader,
    source: ChangeSource,
    timestamp: string,
    userId: string,
  ) {
    this.change = { baseId: base.id, source, timestamp, userId, tables: this.tables };
  }

  table(tableId: string): TableChange {
    return (this.tables[tableId] ??= {});
  }

  fullCells(table: StoredTable, rec: StoredRecord): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of table.fields) {
      const v = this.reader.value(this.base, table, rec, f);
      if (v !== undefined) out[f.id] = v;
    }
    return out;
  }

  /** Call before modifying or deleting `rec`. */
  touch(table: StoredTable, rec: StoredRecord, depth = 0): void {
    const key = table.id + '/' + rec.id;
    if (this.before.has(key) || this.createdRecords.has(key)) return;
    this.before.set(key, { table, id: rec.id, cells: this.fullCells(table, rec) });
    if (depth >= DEPENDENT_DEPTH) return;
    for (const { table: t, record } of this.dependents(table, rec.id)) this.touch(t, record, depth + 1);
  }

  /**
   * Snapshot every record of `table` (no dependents): before a schema change that recomputes a
   * whole column, so the recalculated cells are reported (docs/airtable-reference.md §4.7: adding a formula
   * field yields changed records for every affected row).
   */
  touchAll(table: StoredTable): void {
    for (const rec of table.iterate()) {
      const key = table.id + '/' + rec.id;
      if (!this.before.has(key))
        this.before.set(key, { table, id: rec.id, cells: this.fullCells(table, rec) });
    }
  }

  /** Records (in any table) whose link cells point at `id` in `table` and that have computed fields. */
  private *dependents(
    table: StoredTable,
    id: string,
  ): Generator<{ table: StoredTable; record: StoredRecord }> {
    for (const t of this.base.tables) {
      const links = t.fields.filter(
        (f) => f.type === 'multipleRecordLinks' && f.options?.linkedTableId === table.id,
      );
      if (links.length === 0) continue;
      for (const r of t.iterate()) {
        if (links.some((f) => (r.cells[f.id] as string[] | undefined)?.includes(id)))
          yield { table: t, record: r };
      }
    }
  }

  created(table: StoredTable, rec: StoredRecord): void {
    this.createdRecords.set(table.id + '/' + rec.id, { table, id: rec.id });
    // Anything linking to a new record is touched through the reciprocal link write.
  }

  destroyed(table: StoredTable, id: string): void {
    (this.table(table.id).destroyedRecordIds ??= []).push(id);
  }

  /** Diff snapshots against now and return the finished change (or undefined if nothing happened). */
  finish(): StoreChange | undefined {
    for (const { table, id } of this.createdRecords.values()) {
      const rec = table.get(id);
      if (!rec) continue;
      (this.table(table.id).createdRecords ??= []).push({
        id,
        createdTime: new Date(rec.createdTime).toISOString(),
        cells: this.fullCells(table, rec),
      });
    }
    for (const { table, id, cells } of this.before.values()) {
      const rec = table.get(id);
      if (!rec) continue;
      const now = this.fullCells(table, rec);
      const current: Record<string, unknown> = {};
      const previous: Record<string, unknown> = {};
      for (const f of table.fields) {
        if (sameCell(cells[f.id], now[f.id])) continue;
        current[f.id] = isEmptyCell(now[f.id]) ? null : now[f.id];
        previous[f.id] = isEmptyCell(cells[f.id]) ? null : cells[f.id];
      }
      if (Object.keys(current).length)
        (this.table(table.id).changedRecords ??= []).push({ id, current, previous });
    }
    const c = this.change;
    const empty =
      Object.keys(this.tables).length === 0 && !c.createdTables?.length && !c.destroyedTableIds?.length;
    return empty ? undefined : c;
  }
}
