/**
 * Incremental field types as PostHog names them, and the Airtable fields each stands for.
 *
 * PostHog's ExternalDataSchema takes `incremental_field_type` from its IncrementalFieldType enum —
 * `integer`, `numeric`, `datetime`, `date`, `timestamp` (and `objectid`, MongoDB's) — and offers
 * incremental candidates as `{field, field_type, label, type}`: `field` the column the cursor
 * reads, `label` what a person sees, `field_type` the column's type and `type` the type shown,
 * both from that enum (PostHog's API reference for external data schemas and its warehouse types).
 * airmirror answers in those words, keeps the Airtable ones beside them (`airtable_type`), and takes
 * either in a request.
 *
 * The Airtable fields that make a cursor (sync/incremental.ts): lastModifiedTime and createdTime
 * (the record timestamps Airtable has, docs/airtable-reference.md §5), a dateTime field (a time a
 * person or an automation sets: right for tables where it only grows, like an event's time), and
 * an autoNumber (an integer cursor: new records only). A createdTime or lastModifiedTime field
 * whose result is a date is a `date` cursor; IS_AFTER compares it by day.
 */
import type { AirtableField } from '../airtable/types.ts';

/** PostHog's IncrementalFieldType values that an Airtable field can be. */
export const POSTHOG_INCREMENTAL_FIELD_TYPES = [
  'integer',
  'numeric',
  'datetime',
  'date',
  'timestamp',
] as const;
export type PosthogIncrementalFieldType = (typeof POSTHOG_INCREMENTAL_FIELD_TYPES)[number];

/** Airtable field types a table can be synced incrementally on. */
export const INCREMENTAL_AIRTABLE_TYPES = [
  'lastModifiedTime',
  'createdTime',
  'dateTime',
  'autoNumber',
] as const;
export type IncrementalAirtableType = (typeof INCREMENTAL_AIRTABLE_TYPES)[number];

/** What `incremental_field_type` accepts: PostHog's words or Airtable's. */
export const INCREMENTAL_FIELD_TYPE_INPUTS = [
  ...POSTHOG_INCREMENTAL_FIELD_TYPES,
  ...INCREMENTAL_AIRTABLE_TYPES,
] as const;

export function isIncrementalAirtableType(type: string): type is IncrementalAirtableType {
  return (INCREMENTAL_AIRTABLE_TYPES as readonly string[]).includes(type);
}

/** The PostHog type of an incremental Airtable field (or stored Airtable type, with its field). */
export function posthogTypeOf(
  airtableType: string,
  field?: Pick<AirtableField, 'options'>,
): PosthogIncrementalFieldType | null {
  if (airtableType === 'autoNumber') return 'integer';
  if (airtableType === 'dateTime') return 'datetime';
  if (airtableType === 'createdTime' || airtableType === 'lastModifiedTime') {
    const result = (field?.options as { result?: { type?: string } } | undefined)?.result?.type;
    return result === 'date' ? 'date' : 'datetime';
  }
  return null;
}

/**
 * Whether a type a request names fits a field: its Airtable type exactly, or a PostHog type for
 * the same cursor — `datetime` or `timestamp` for a time, `date` for a date, `integer` or `numeric`
 * for an autoNumber.
 */
export function typeFits(
  asked: string,
  airtableType: string,
  posthogType: PosthogIncrementalFieldType,
): boolean {
  if (asked === airtableType) return true;
  switch (posthogType) {
    case 'datetime':
      return asked === 'datetime' || asked === 'timestamp';
    case 'date':
      return asked === 'date';
    case 'integer':
      return asked === 'integer' || asked === 'numeric';
    default:
      return false;
  }
}
