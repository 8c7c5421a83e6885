import type { AirtableField, FieldConfig } from '../airtable/types.ts';

/** Postgres column types the mirror uses (docs/DESIGN.md "Mirror layout", type table). */
export type PgType = 'text' | 'text[]' | 'numeric' | 'bigint' | 'boolean' | 'date' | 'timestamptz' | 'jsonb';

/**
 * Lookups by type name go through Maps: an Airtable type is data, and a plain object would answer
 * `constructor`, `__proto__` or `toString` with something of Object.prototype.
 */
const BY_TYPE: ReadonlyMap<string, PgType> = new Map(
  Object.entries({
    singleLineText: 'text',
    multilineText: 'text',
    richText: 'text',
    email: 'text',
    url: 'text',
    phoneNumber: 'text',
    singleSelect: 'text',
    externalSyncSource: 'text',
    multipleSelects: 'text[]',
    number: 'numeric',
    currency: 'numeric',
    percent: 'numeric',
    duration: 'numeric',
    rating: 'bigint',
    autoNumber: 'bigint',
    count: 'bigint',
    checkbox: 'boolean',
    date: 'date',
    dateTime: 'timestamptz',
    multipleRecordLinks: 'text[]',
  } satisfies Record<string, PgType>),
);

/**
 * Types whose column type is decided by `options.result.type` (docs/airtable-reference.md §3.3 notes: formula,
 * rollup, and createdTime/lastModifiedTime whose result may be a date instead of a dateTime).
 * Lookups (multipleLookupValues) stay jsonb: their REST value is always an array of values.
 */
const BY_RESULT = new Set(['formula', 'rollup', 'createdTime', 'lastModifiedTime']);

/** Fallback when a result type is missing or itself computed. */
const RESULT_DEFAULT: ReadonlyMap<string, PgType> = new Map([
  ['formula', 'jsonb'],
  ['rollup', 'jsonb'],
  ['createdTime', 'timestamptz'],
  ['lastModifiedTime', 'timestamptz'],
]);

/** Types stored as jsonb on purpose (their REST value is an object or an array of objects). */
const JSON_TYPES = new Set([
  'singleCollaborator',
  'createdBy',
  'lastModifiedBy',
  'multipleCollaborators',
  'multipleAttachments',
  'multipleLookupValues',
  'barcode',
  'button',
  'aiText',
]);

/** Whether airmirror knows the type (an unknown one is stored as jsonb, with a warning). */
export function isKnownType(type: string): boolean {
  return BY_TYPE.has(type) || BY_RESULT.has(type) || JSON_TYPES.has(type);
}

function resultOf(field: Pick<AirtableField, 'options'>): FieldConfig | undefined {
  const r = field.options?.result;
  return r && typeof r === 'object' && typeof r.type === 'string' ? r : undefined;
}

/** The Postgres type of a field's column. Unknown types (and anything not in the table) are jsonb. */
export function pgTypeFor(field: Pick<AirtableField, 'type' | 'options'>): PgType {
  if (BY_RESULT.has(field.type)) {
    const result = resultOf(field);
    const t = result ? BY_TYPE.get(result.type) : undefined;
    return (
      t ??
      (result?.type === 'createdTime' || result?.type === 'lastModifiedTime'
        ? 'timestamptz'
        : (RESULT_DEFAULT.get(field.type) ?? 'jsonb'))
    );
  }
  return BY_TYPE.get(field.type) ?? 'jsonb';
}

/** Only a real checkbox column is NOT NULL DEFAULT false; a computed boolean can be an error (NULL). */
export function isNotNullBoolean(airtableType: string): boolean {
  return airtableType === 'checkbox';
}
