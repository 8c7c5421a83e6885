import type { AirtableField } from '../airtable/types.ts';
import { AirmirrorError } from '../errors.ts';

/** One Airtable field ↔ one mirror column. */
export interface ColumnMapping {
  fieldId: string;
  fieldName: string;
  /** Postgres column name (unquoted; always quoted with quoteIdent when it reaches SQL). */
  column: string;
  airtableType: string;
  /** Bare Postgres type (`text`, `text[]`, `numeric`, `bigint`, `boolean`, `date`, `timestamptz`, `jsonb`). */
  pgType: string;
  field: AirtableField;
}

/** One Airtable table ↔ one mirror table. Columns exclude the fixed `id` and `created_time`. */
export interface TableMapping {
  tableId: string;
  tableName: string;
  /** Postgres schema the table lives in (the base's schema). */
  schema: string;
  /** Postgres table name (unquoted). */
  table: string;
  columns: ColumnMapping[];
  /** Fields the operator excluded: never requested nor stored (writes naming them ignore them). */
  excludedFields?: { fieldId: string; fieldName: string }[];
  /** What the mapping could only approximate (an unknown type stored as jsonb, …); not stored here. */
  warnings?: string[];
  /** Changes held back while the table is paused (a retype that needs its values listed again). */
  deferred?: string[];
}

export interface BaseMapping {
  schema: string;
  /**
   * mappingHash() of this layout (tables, columns, types, names, what is excluded): the schema
   * step compares it with the one of the layout the base schema asks for now.
   */
  hash: string;
  tables: TableMapping[];
  /** Tables the operator excluded from the mirror (no mirror table, never listed). */
  excludedTables?: { tableId: string; tableName: string }[];
}

/** Who is writing: decides fencing and is recorded in outbox events. */
export type Origin = 'proxy' | 'sql' | 'webhook' | 'sweep' | 'incremental' | 'append';

export interface ApplyOptions {
  origin: Origin;
  sourceId: string;
  /** How `record.fields` is keyed; default 'id' (the syncer lists with returnFieldsByFieldId). */
  keyedBy?: 'id' | 'name';
  /** sweep/incremental: the fence value taken before the page was fetched; rows fenced later are skipped. */
  fetchedBefore?: bigint | string;
  /** proxy/webhook: stamp the row fence (authoritative writes). */
  stampFence?: boolean;
  /** Write into this schema instead of table.schema (the `<schema>_swap` rebuild); no outbox events then. */
  schemaOverride?: string;
}

export interface ApplyResult {
  inserted: number;
  updated: number;
  unchanged: number;
  fencedOut: number;
  cellErrors: number;
  /** Ids of rows inserted or updated, in no particular order. */
  changedIds: string[];
  /**
   * Ids whose fence is newer than `fetchedBefore`: skipped on live tables (counted in fencedOut);
   * with `schemaOverride` written anyway (a swap table has nothing newer), so the syncer can
   * refetch them after promote.
   */
  fencedIds?: string[];
}

export interface ConvertedRecord {
  id: string;
  createdTime: string;
  /** One pg-ready value per column of the table mapping, in column order. */
  values: unknown[];
  /** Cells that became NULL because they held an error/special value or did not fit the column type. */
  cellErrors: number;
}

/** A record keyed by field name carried a name the mapping does not know: the schema changed. */
export class UnknownFieldError extends AirmirrorError {
  readonly tableId: string;
  readonly fieldName: string;
  constructor(tableId: string, fieldName: string) {
    super('UNKNOWN_FIELD', 409, `Field "${fieldName}" is not in the mirror mapping of table ${tableId}`, {
      details: { tableId, fieldName },
    });
    this.name = 'UnknownFieldError';
    this.tableId = tableId;
    this.fieldName = fieldName;
  }
}
