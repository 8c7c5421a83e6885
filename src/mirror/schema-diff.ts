/**
 * What a schema change asks of the mirror (pure): the layout the mirror has (`old`) against the
 * one the base schema asks for now (`next`, mapping.ts), table by table and column by column, by
 * Airtable id — so a renamed field is a renamed column, not a dropped one and a new one.
 */
import { needsValues, retypeHow, type RetypeHow } from './retype.ts';
import type { BaseMapping, ColumnMapping, TableMapping } from './types.ts';

export interface Retyped {
  from: ColumnMapping;
  to: ColumnMapping;
  how: RetypeHow;
}

export interface TablePlan {
  tableId: string;
  /** Present unless the table is new. */
  old?: TableMapping;
  /** Present unless the table leaves the mirror. */
  next?: TableMapping;
  /** The mirror table's name changes (old name in `old.table`). */
  renamed: boolean;
  added: ColumnMapping[];
  dropped: ColumnMapping[];
  /** Columns whose name follows a renamed field (`from` is the old column name). */
  renamedColumns: { from: string; to: ColumnMapping }[];
  retyped: Retyped[];
  /** The table must be filled again beside the live one and swapped in (a new table, a refill retype). */
  refill: boolean;
  /** New or retyped columns wait for values from Airtable (a full run after the change in place). */
  fill: boolean;
  /** Anything changes in place: DDL, comments or the stored mapping. */
  inPlace: boolean;
}

export interface SchemaPlan {
  tables: TablePlan[];
  /** Tables leaving the mirror: gone from the base, or excluded by the operator. */
  removed: { old: TableMapping; excluded: boolean }[];
}

export function diffMappings(old: BaseMapping, next: BaseMapping): SchemaPlan {
  const before = new Map(old.tables.map((t) => [t.tableId, t]));
  const excluded = new Set((next.excludedTables ?? []).map((t) => t.tableId));
  const kept = new Set(next.tables.map((t) => t.tableId));
  const removed = old.tables
    .filter((t) => !kept.has(t.tableId))
    .map((t) => ({ old: t, excluded: excluded.has(t.tableId) }));
  const tables = next.tables.map((t) => diffTable(before.get(t.tableId), t));
  return { tables, removed };
}

function diffTable(old: TableMapping | undefined, next: TableMapping): TablePlan {
  const plan: TablePlan = {
    tableId: next.tableId,
    old,
    next,
    renamed: old !== undefined && old.table !== next.table,
    added: [],
    dropped: [],
    renamedColumns: [],
    retyped: [],
    refill: old === undefined,
    fill: false,
    inPlace: false,
  };
  if (!old) return plan;
  const was = new Map(old.columns.map((c) => [c.fieldId, c]));
  const now = new Set(next.columns.map((c) => c.fieldId));
  plan.dropped = old.columns.filter((c) => !now.has(c.fieldId));
  for (const c of next.columns) {
    const prev = was.get(c.fieldId);
    if (!prev) {
      plan.added.push(c);
      continue;
    }
    if (prev.column !== c.column) plan.renamedColumns.push({ from: prev.column, to: c });
    if (prev.pgType !== c.pgType || prev.airtableType !== c.airtableType) {
      plan.retyped.push({ from: prev, to: c, how: retypeHow(prev, c) });
    }
  }
  plan.refill = plan.retyped.some((r) => r.how === 'refill');
  plan.fill = plan.added.length > 0 || plan.retyped.some((r) => needsValues(r.from, r.to));
  plan.inPlace = layoutOf(old) !== layoutOf(next);
  return plan;
}

/** Everything of a table's layout that is stored or shown (names, order, types, exclusions). */
function layoutOf(t: TableMapping): string {
  return JSON.stringify([
    t.tableName,
    t.table,
    t.columns.map((c) => [c.fieldId, c.fieldName, c.column, c.airtableType, c.pgType]),
    (t.excludedFields ?? []).map((f) => [f.fieldId, f.fieldName]).sort(),
  ]);
}

/** What a `schema.changed` event says about one base's change (src/events, docs/schema-changes.md). */
export interface SchemaChangeSummary {
  tables: {
    added: { table_id: string; name: string; mirror_table: string }[];
    renamed: { table_id: string; name: string; from: string; to: string }[];
    dropped: { table_id: string; name: string; mirror_table: string; reason: 'deleted' | 'excluded' }[];
  };
  columns: {
    added: ColumnEntry[];
    renamed: (ColumnEntry & { from: string })[];
    retyped: (ColumnEntry & { from_type: string; airtable_from_type: string; refilled: boolean })[];
    dropped: ColumnEntry[];
  };
  /** Reader objects a change could not keep (or kept without some of what they had). */
  reader_objects: { kind: string; name: string; dropped: boolean; reason: string }[];
}

interface ColumnEntry {
  mirror_table: string;
  table_id: string;
  column: string;
  field_id: string;
  field: string;
  type: string;
  airtable_type: string;
}

export function summarize(plan: SchemaPlan): SchemaChangeSummary {
  const entry = (t: TableMapping, c: ColumnMapping): ColumnEntry => ({
    mirror_table: t.table,
    table_id: t.tableId,
    column: c.column,
    field_id: c.fieldId,
    field: c.fieldName,
    type: c.pgType,
    airtable_type: c.airtableType,
  });
  const s: SchemaChangeSummary = {
    tables: { added: [], renamed: [], dropped: [] },
    columns: { added: [], renamed: [], retyped: [], dropped: [] },
    reader_objects: [],
  };
  for (const r of plan.removed) {
    s.tables.dropped.push({
      table_id: r.old.tableId,
      name: r.old.tableName,
      mirror_table: r.old.table,
      reason: r.excluded ? 'excluded' : 'deleted',
    });
  }
  for (const p of plan.tables) {
    const t = p.next!;
    if (!p.old) {
      s.tables.added.push({ table_id: t.tableId, name: t.tableName, mirror_table: t.table });
      continue;
    }
    if (p.renamed)
      s.tables.renamed.push({ table_id: t.tableId, name: t.tableName, from: p.old.table, to: t.table });
    for (const c of p.added) s.columns.added.push(entry(t, c));
    for (const c of p.dropped) s.columns.dropped.push(entry(p.old, c));
    for (const r of p.renamedColumns) s.columns.renamed.push({ ...entry(t, r.to), from: r.from });
    for (const r of p.retyped) {
      s.columns.retyped.push({
        ...entry(t, r.to),
        from_type: r.from.pgType,
        airtable_from_type: r.from.airtableType,
        refilled: r.how === 'refill',
      });
    }
  }
  return s;
}

/** Whether a summary names any change at all (a plan of comments only names none). */
export function summaryIsEmpty(s: SchemaChangeSummary): boolean {
  return (
    Object.values(s.tables).every((l) => l.length === 0) &&
    Object.values(s.columns).every((l) => l.length === 0) &&
    s.reader_objects.length === 0
  );
}
