import type { ColumnMapping } from './types.ts';

/**
 * The reverse of the type mapping (pg-types.ts, convert.ts): a mirror column's typed value, as
 * Postgres renders it in JSON (`row_to_json`: numbers as numbers, arrays as arrays, dates and
 * timestamps in ISO 8601 whatever the session's DateStyle), back to the cell value Airtable takes
 * on a write (docs/airtable-reference.md §1.3, §1.4, §3.3). Used by the Postgres endpoint.
 */

/**
 * Field types whose cells Airtable computes: writing them is refused (docs/airtable-reference.md
 * §1.4), so the endpoint refuses before anything is sent. `externalSyncSource` and `manualSort`
 * are read-only too.
 */
const COMPUTED_TYPES = new Set([
  'formula',
  'rollup',
  'count',
  'multipleLookupValues',
  'lookup',
  'autoNumber',
  'createdTime',
  'lastModifiedTime',
  'createdBy',
  'lastModifiedBy',
  'button',
  'aiText',
  'externalSyncSource',
  'manualSort',
]);

/** The fixed columns of every mirror table: Airtable assigns both. */
export const RECORD_ID_COLUMN = 'id';
export const CREATED_TIME_COLUMN = 'created_time';

export function isComputedType(airtableType: string): boolean {
  return COMPUTED_TYPES.has(airtableType);
}

/** A value that has no Airtable form (an infinite date, NaN, an array with a NULL element …). */
export class ReverseValueError extends Error {
  constructor(
    readonly column: string,
    readonly reason: string,
    /** SQLSTATE: 22008 for dates out of Airtable's range, else 22023. */
    readonly sqlState: string = '22023',
  ) {
    super(`column "${column}": ${reason}`);
    this.name = 'ReverseValueError';
  }
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function fail(col: ColumnMapping, reason: string, sqlState?: string): never {
  throw new ReverseValueError(col.column, reason, sqlState);
}

function textArray(col: ColumnMapping, v: unknown): string[] {
  if (v === null) return [];
  if (!Array.isArray(v)) fail(col, `expected an array, got ${JSON.stringify(v)}`);
  return v.map((item) => {
    if (typeof item !== 'string') fail(col, 'an array element is NULL or not text');
    return item;
  });
}

function numberOf(col: ColumnMapping, v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return fail(col, `${JSON.stringify(v)} is not a finite number`);
}

function isoDate(col: ColumnMapping, v: unknown): string {
  if (typeof v !== 'string' || !DATE.test(v))
    fail(col, `${JSON.stringify(v)} is not a date Airtable can hold`, '22008');
  return v;
}

function isoTimestamp(col: ColumnMapping, v: unknown): string {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) fail(col, `${JSON.stringify(v)} is not a time Airtable can hold`, '22008');
  return new Date(ms).toISOString();
}

/**
 * Attachments are written as `{id}` (keep an existing one) or `{url, filename}` (add one by URL,
 * §1.7). The mirror holds Airtable's whole objects; sending those back would add every file again.
 */
function attachments(col: ColumnMapping, v: unknown): unknown[] {
  if (v === null) return [];
  if (!Array.isArray(v)) fail(col, 'expected a JSON array of attachments');
  return v.map((a) => {
    if (typeof a !== 'object' || a === null) fail(col, 'an attachment is not a JSON object');
    const { id, url, filename } = a as { id?: unknown; url?: unknown; filename?: unknown };
    if (typeof id === 'string') return { id };
    if (typeof url === 'string') return typeof filename === 'string' ? { url, filename } : { url };
    return fail(col, 'an attachment has neither an id nor a url');
  });
}

/** Collaborators are written by id or email (§3.3); the mirror's objects carry both and a name. */
function collaborator(col: ColumnMapping, v: unknown): unknown {
  if (typeof v === 'string') return v.startsWith('usr') ? { id: v } : { email: v };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(col, 'expected a collaborator object');
  const { id, email } = v as { id?: unknown; email?: unknown };
  if (typeof id === 'string') return { id };
  if (typeof email === 'string') return { email };
  return fail(col, 'a collaborator has neither an id nor an email');
}

/**
 * One column's new value (JSON-decoded `row_to_json` output; null = SQL NULL) → the Airtable cell
 * value to send. NULL clears a cell; a NULL checkbox is unchecked.
 */
export function toAirtableCell(col: ColumnMapping, v: unknown): unknown {
  if (isComputedType(col.airtableType)) fail(col, `the field is computed by Airtable (${col.airtableType})`);
  switch (col.airtableType) {
    case 'checkbox':
      if (v === null) return false;
      if (typeof v !== 'boolean') fail(col, 'expected a boolean');
      return v;
    case 'multipleSelects':
    case 'multipleRecordLinks':
      return textArray(col, v);
    case 'multipleAttachments':
      return attachments(col, v);
    case 'singleCollaborator':
      return v === null ? null : collaborator(col, v);
    case 'multipleCollaborators':
      if (v === null) return [];
      if (!Array.isArray(v)) fail(col, 'expected a JSON array of collaborators');
      return v.map((c) => collaborator(col, c));
    case 'date':
      return v === null ? null : isoDate(col, v);
    case 'dateTime':
      return v === null ? null : isoTimestamp(col, v);
  }
  if (v === null) return null;
  switch (col.pgType) {
    case 'text':
      if (typeof v !== 'string') fail(col, 'expected text');
      return v;
    case 'numeric':
    case 'bigint':
      return numberOf(col, v);
    case 'boolean':
      if (typeof v !== 'boolean') fail(col, 'expected a boolean');
      return v;
    case 'date':
      return isoDate(col, v);
    case 'timestamptz':
      return isoTimestamp(col, v);
    case 'text[]':
      return textArray(col, v);
    default:
      // jsonb (barcode and types this version does not know): Airtable's own JSON shape.
      return v;
  }
}
