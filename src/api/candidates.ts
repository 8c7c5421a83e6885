/**
 * What a table can be synced with, read from its live schema (POST /api/schemas/{id}/incremental-fields).
 * Incremental candidates are its lastModifiedTime, createdTime, dateTime and autoNumber fields
 * (incremental-types.ts says why these), offered in PostHog's shape `{field, field_type, label,
 * type}` with airmirror's own keys beside (`id`, `name`, `airtable_type`).
 */
import type { AirtableField, AirtableTable } from '../airtable/types.ts';
import { isNotNullBoolean } from '../mirror/pg-types.ts';
import {
  isIncrementalAirtableType,
  posthogTypeOf,
  type PosthogIncrementalFieldType,
} from './incremental-types.ts';

export interface IncrementalCandidate {
  /** PostHog's keys: the field to read (its id: ids survive renames), its name, its type twice. */
  field: string;
  field_type: PosthogIncrementalFieldType;
  label: string;
  type: PosthogIncrementalFieldType;
  /** airmirror's: the same id and name, and the Airtable type. */
  id: string;
  name: string;
  airtable_type: string;
}

export function incrementalCandidates(table: AirtableTable): IncrementalCandidate[] {
  const out: IncrementalCandidate[] = [];
  for (const f of table.fields) {
    if (!isIncrementalAirtableType(f.type)) continue;
    const type = posthogTypeOf(f.type, f)!;
    out.push({
      field: f.id,
      field_type: type,
      label: f.name,
      type,
      id: f.id,
      name: f.name,
      airtable_type: f.type,
    });
  }
  return out;
}

/** A field by id, or else by exact name (ids are what we store: they survive renames). */
export function findCandidate(
  candidates: readonly IncrementalCandidate[],
  idOrName: string,
): IncrementalCandidate | undefined {
  return candidates.find((c) => c.id === idOrName) ?? candidates.find((c) => c.name === idOrName);
}

/** Airtable records are identified by their record id; the mirror keys every table on it (docs/DESIGN.md). */
export const DETECTED_PRIMARY_KEYS = ['id'] as const;

export interface AvailabilityOptions {
  /** Mirror column names by field id, when the mapping is known. */
  columnsByFieldId: ReadonlyMap<string, string>;
  /** AIRMIRROR_PUBLIC_URL is configured, so Airtable can reach our webhook receiver. */
  webhooksConfigured: boolean;
}

export function syncAvailability(table: AirtableTable, opts: AvailabilityOptions) {
  const incremental_fields = incrementalCandidates(table);
  return {
    incremental_fields,
    incremental_available: incremental_fields.length > 0,
    // append versions rows by comparing each observed record with its last version: any table.
    append_available: true,
    full_refresh_available: true,
    cdc_available: false as const,
    supports_webhooks: opts.webhooksConfigured,
    detected_primary_keys: [...DETECTED_PRIMARY_KEYS],
    // PostHog's {field, label, type, nullable} (`field`: the field id, as incremental_field takes
    // it, or the record's own id and createdTime), with airmirror's field id and mirror column beside.
    available_columns: [
      column('id', 'id', null, 'id', 'recordId', false),
      column('created_time', 'createdTime', null, 'created_time', 'createdTime', false),
      ...table.fields.map((f: AirtableField) =>
        column(
          f.id,
          f.name,
          f.id,
          opts.columnsByFieldId.get(f.id) ?? null,
          f.type,
          !isNotNullBoolean(f.type),
        ),
      ),
    ],
  };
}

function column(
  field: string,
  label: string,
  fieldId: string | null,
  mirrorColumn: string | null,
  type: string,
  nullable: boolean,
) {
  return { field, label, type, nullable, field_id: fieldId, name: label, column: mirrorColumn };
}
