/**
 * What a table can be synced with, read from its live schema (POST /api/schemas/{id}/incremental-fields).
 * Incremental candidates are the table's lastModifiedTime and createdTime fields: the only
 * record timestamps Airtable exposes (docs/airtable-reference.md §1.1: no modified time on the envelope; §5).
 */
import type { AirtableField, AirtableTable } from '../airtable/types.ts';
import { INCREMENTAL_FIELD_TYPES } from './model.ts';

export interface IncrementalCandidate {
  id: string;
  name: string;
  type: string;
}

export function incrementalCandidates(table: AirtableTable): IncrementalCandidate[] {
  return table.fields
    .filter((f) => (INCREMENTAL_FIELD_TYPES as readonly string[]).includes(f.type))
    .map((f) => ({ id: f.id, name: f.name, type: f.type }));
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
    available_columns: [
      { field_id: null, name: 'id', column: 'id', type: 'recordId' },
      { field_id: null, name: 'createdTime', column: 'created_time', type: 'createdTime' },
      ...table.fields.map((f: AirtableField) => ({
        field_id: f.id,
        name: f.name,
        column: opts.columnsByFieldId.get(f.id) ?? null,
        type: f.type,
      })),
    ],
  };
}
