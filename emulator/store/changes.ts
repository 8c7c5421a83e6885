/**
 * The store's change feed: one `StoreChange` per user action (one API call or one control
 * call), delivered synchronously to `store.onChange` listeners after the action has been
 * applied. This is the contract the webhooks emulator builds payloads from; keep it stable.
 *
 * Cell values are REST (cellFormat=json, "V1") values keyed by field id. A cleared cell is
 * `null` in `current` (and an empty cell `null` in `previous`), like webhook payloads (docs/airtable-reference.md §4.7).
 * Computed-field recalculations caused by the action (formulas, lookups, rollups, counts,
 * lastModifiedTime/By, reciprocal links) are included in `changedRecords`, as Airtable
 * delivers them (docs/airtable-reference.md §4.7).
 */
export type ChangeSource = 'client' | 'publicApi' | 'system';

export interface FieldSummary {
  name: string;
  type: string;
}

export interface TableChange {
  createdRecords?: Array<{ id: string; createdTime: string; cells: Record<string, unknown> }>;
  /** Only cells whose value changed; `previous` has the same keys as `current`. */
  changedRecords?: Array<{ id: string; current: Record<string, unknown>; previous: Record<string, unknown> }>;
  destroyedRecordIds?: string[];
  createdFields?: Array<{ id: string } & FieldSummary>;
  changedFields?: Array<{ id: string; current: Partial<FieldSummary>; previous: Partial<FieldSummary> }>;
  destroyedFieldIds?: string[];
  changedMetadata?: {
    current: { name: string; description: string | null };
    previous: { name: string; description: string | null };
  };
}

export interface StoreChange {
  baseId: string;
  source: ChangeSource;
  /** ISO time of the action on the emulator clock. */
  timestamp: string;
  /** The acting user (collaborator id), for actionMetadata. */
  userId: string;
  tables: Record<string, TableChange>;
  createdTables?: Array<{
    id: string;
    name: string;
    description: string | null;
    fields: Array<{ id: string } & FieldSummary>;
  }>;
  destroyedTableIds?: string[];
}

export type ChangeListener = (change: StoreChange) => void;
