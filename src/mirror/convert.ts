import type { AirtableRecord } from '../airtable/types.ts';
import { AirmirrorError } from '../errors.ts';
import { isNotNullBoolean } from './pg-types.ts';
import { UnknownFieldError, type ColumnMapping, type ConvertedRecord, type TableMapping } from './types.ts';

/** A cell that cannot be stored as-is: it becomes NULL and is counted. */
const BAD = Symbol('bad cell');
type Converted = unknown | typeof BAD;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/;
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^-?\d{1,19}$/;
const INT64_MAX = 9223372036854775807n;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Postgres text and jsonb cannot hold NUL, and a lone UTF-16 surrogate is not valid UTF-8:
 * NUL makes the cell unstorable, a lone surrogate becomes U+FFFD (what any UTF-8 encoder does).
 */
function cleanString(s: string): string | typeof BAD {
  if (s.includes('\u0000')) return BAD;
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A real day of the proleptic Gregorian calendar (what Postgres accepts), years 1 and later. */
function validDay(year: number, month: number, day: number): boolean {
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]);
}

function validDate(y: string, m: string, d: string): boolean {
  return validDay(Number(y), Number(m), Number(d));
}

/** The digits of v[from, to) as a number, or -1 when one is not a digit. */
function digits(v: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Airtable's own timestamp spelling, `YYYY-MM-DDTHH:MM:SS.sssZ` (docs/airtable-reference.md §3.3), checked
 * without a regex or a Date: most cells of a sweep are in it. undefined = another spelling.
 */
function canonicalTimestamp(v: string): boolean | undefined {
  if (
    v.length !== 24 ||
    v.charCodeAt(4) !== 45 ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(10) !== 84 ||
    v.charCodeAt(13) !== 58 ||
    v.charCodeAt(16) !== 58 ||
    v.charCodeAt(19) !== 46 ||
    v.charCodeAt(23) !== 90
  ) {
    return undefined;
  }
  const year = digits(v, 0, 4);
  const month = digits(v, 5, 7);
  const day = digits(v, 8, 10);
  const hour = digits(v, 11, 13);
  const minute = digits(v, 14, 16);
  const second = digits(v, 17, 19);
  if (digits(v, 20, 23) < 0 || year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return undefined;
  }
  return validDay(year, month, day) && hour <= 23 && minute <= 59 && second <= 59;
}

function isCellError(v: unknown): boolean {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    ('error' in v || 'specialValue' in v) &&
    Object.keys(v).length === 1
  );
}

/** Text-like V2 shapes (docs/airtable-reference.md §3.3 "Webhook (V2)") reduce to their REST form. */
function asText(v: unknown): Converted {
  if (typeof v === 'string') return cleanString(v);
  if (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    typeof (v as { name?: unknown }).name === 'string'
  ) {
    return cleanString((v as { name: string }).name);
  }
  return BAD;
}

function asTextArray(v: unknown, key: 'name' | 'id'): Converted {
  if (!Array.isArray(v)) return BAD;
  if (v.length === 0) return null; // REST omits empty arrays; store them the same way as absent
  const out: string[] = [];
  for (const item of v) {
    let s: unknown = item;
    if (typeof item === 'object' && item !== null) s = (item as Record<string, unknown>)[key];
    if (typeof s !== 'string') return BAD;
    const clean = cleanString(s);
    if (clean === BAD) return BAD;
    out.push(clean);
  }
  return out;
}

function asNumeric(v: unknown): Converted {
  // String(n) is the shortest text that reads back as the same double: no precision is lost.
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : BAD;
  if (typeof v === 'string' && DECIMAL.test(v)) return v;
  return BAD;
}

function asBigint(v: unknown): Converted {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : BAD;
  if (typeof v === 'string' && INTEGER.test(v)) {
    const n = BigInt(v);
    return n <= INT64_MAX && n >= -INT64_MAX - 1n ? v : BAD;
  }
  return BAD;
}

function asDate(v: unknown): Converted {
  if (typeof v !== 'string') return BAD;
  const m = DATE.exec(v);
  return m && validDate(m[1], m[2], m[3]) ? v : BAD;
}

function asTimestamp(v: unknown): Converted {
  if (typeof v !== 'string') return BAD;
  const canonical = canonicalTimestamp(v);
  if (canonical !== undefined) return canonical ? v : BAD;
  const m = TIMESTAMP.exec(v);
  if (!m || !validDate(m[1], m[2], m[3]) || Number(m[4]) > 23 || Number(m[5]) > 59) return BAD;
  if (m[6] && Number(m[6].slice(1, 3)) > 59) return BAD;
  return v;
}

function asJson(v: unknown): Converted {
  const text = JSON.stringify(v);
  if (text === undefined) return BAD;
  // jsonb rejects \u0000 and unpaired surrogate escapes, which JSON.stringify emits for them.
  if (text.includes('\\u') && /\\u0000|\\ud[89a-f][0-9a-f]{2}/i.test(text)) return BAD;
  return text;
}

/** One cell → its column's pg-ready value (or BAD). `undefined`/`null` mean an empty cell. */
export function convertCell(col: Pick<ColumnMapping, 'pgType' | 'airtableType'>, v: unknown): Converted {
  if (v === undefined || v === null) return col.pgType === 'boolean' ? false : null;
  // Formula/rollup errors and special values ({error}, {specialValue}) are NULL and counted.
  if (isCellError(v) && col.airtableType !== 'multipleLookupValues') return BAD;
  switch (col.pgType) {
    case 'text':
      return asText(v);
    case 'text[]':
      return asTextArray(v, col.airtableType === 'multipleRecordLinks' ? 'id' : 'name');
    case 'numeric':
      return asNumeric(v);
    case 'bigint':
      return asBigint(v);
    case 'boolean':
      return typeof v === 'boolean' ? v : BAD;
    case 'date':
      return asDate(v);
    case 'timestamptz':
      return asTimestamp(v);
    default:
      return asJson(v);
  }
}

/** Per table: field id/name → column index, built once per mapping object. */
const indexCache = new WeakMap<
  TableMapping,
  { byId: Map<string, number>; byName: Map<string, number>; excluded: Set<string> }
>();

function indexOf(table: TableMapping) {
  let idx = indexCache.get(table);
  if (!idx) {
    idx = {
      byId: new Map(table.columns.map((c, i) => [c.fieldId, i])),
      byName: new Map(table.columns.map((c, i) => [c.fieldName, i])),
      // Fields the operator excluded: never stored, and not a sign the schema changed.
      excluded: new Set((table.excludedFields ?? []).flatMap((f) => [f.fieldId, f.fieldName])),
    };
    indexCache.set(table, idx);
  }
  return idx;
}

/**
 * An Airtable record (REST, cellFormat=json) → one value per column, ready to bind. Absent cells
 * are NULL (a real checkbox: false); a cell that is an error, a special value or does not fit its
 * column is NULL and counted, never a failed batch. With `keyedBy: 'name'` an unknown field name
 * throws UnknownFieldError (the schema changed); with ids, unknown fields are ignored until the
 * next schema check rebuilds the mirror.
 */
export function convertRecord(
  table: TableMapping,
  record: AirtableRecord,
  keyedBy: 'id' | 'name' = 'id',
): ConvertedRecord {
  if (typeof record.id !== 'string' || record.id.length === 0) {
    throw new AirmirrorError('INVALID_RECORD', 422, 'record without an id');
  }
  if (asTimestamp(record.createdTime) === BAD) {
    throw new AirmirrorError('INVALID_RECORD', 422, `record ${record.id} has no valid createdTime`);
  }
  const idx = indexOf(table);
  const lookup = keyedBy === 'name' ? idx.byName : idx.byId;
  const raw: unknown[] = new Array(table.columns.length);
  for (const key of Object.keys(record.fields ?? {})) {
    const i = lookup.get(key);
    if (i === undefined) {
      if (keyedBy === 'name' && !idx.excluded.has(key)) throw new UnknownFieldError(table.tableId, key);
      continue;
    }
    raw[i] = record.fields[key];
  }
  let cellErrors = 0;
  const values = table.columns.map((col, i) => {
    const v = convertCell(col, raw[i]);
    if (v !== BAD) return v;
    cellErrors++;
    return col.pgType === 'boolean' && isNotNullBoolean(col.airtableType) ? false : null;
  });
  return { id: record.id, createdTime: record.createdTime, values, cellErrors };
}
