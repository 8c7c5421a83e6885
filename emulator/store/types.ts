import type { FieldType } from '../types.ts';

/** A user as it appears in collaborator cells (docs/airtable-reference.md §3.3: `{id, email?, name?}`). */
export interface Collaborator {
  id: string;
  email: string;
  name: string;
}

/**
 * A field as the store keeps it. `options` is exactly what the meta API shows; `hidden` holds
 * emulator-only settings Airtable does not expose (a rollup's aggregation, a button's label).
 */
export interface StoredField {
  id: string;
  name: string;
  type: FieldType;
  description?: string;
  options?: Record<string, unknown> | null;
  hidden?: { aggregate?: RollupAggregate; buttonLabel?: string; buttonUrl?: string };
}

export type RollupAggregate = 'SUM' | 'MAX' | 'MIN' | 'AVERAGE' | 'COUNTALL' | 'ARRAYJOIN' | 'AND' | 'OR';

export interface StoredView {
  id: string;
  name: string;
  type: string;
  /** Grid views: the visible fields (meta `include[]=visibleFieldIds`); default all. */
  hiddenFieldIds?: string[];
  /** The view's own order, used when a list asks for `view` without `sort`. */
  sort?: Array<{ fieldId: string; direction: 'asc' | 'desc' }>;
  /** A formula text selecting the records in the view (emulator-only). */
  filterFormula?: string;
}

/** The last user edit of one field of one record (drives lastModifiedTime/By). */
export interface FieldEdit {
  at: number;
  by: string;
}

export interface StoredRecord {
  id: string;
  /** ms since epoch */
  createdTime: number;
  /** Creation order within the table: the default list order and the iterator position. */
  seq: number;
  /** Writable and stored read-only cells (autoNumber, aiText, externalSyncSource), REST values, keyed by field id. Empty cells are absent. */
  cells: Record<string, unknown>;
  createdBy: string;
  /** Only for fields a user edited after creation; absent on untouched records to save memory. */
  edits?: Record<string, FieldEdit>;
}

/** Rows of a seeded table produced on demand from their index (the `records: N` size knob). */
export interface GeneratedRows {
  count: number;
  idAt(i: number): string;
  indexOf(id: string): number;
  make(i: number): StoredRecord;
}
