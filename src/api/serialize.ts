/** Bookkeeping rows (src/bookkeeping) → the API's snake_case JSON. Tokens never leave through here. */
import type { Source, Table } from '../bookkeeping/index.ts';
import { posthogTypeOf } from './incremental-types.ts';

const iso = (d: Date | string | null | undefined): string | null =>
  d == null ? null : d instanceof Date ? d.toISOString() : new Date(d).toISOString();

/** Seconds since the last successful sync; null when never synced. */
export function lagSeconds(lastSyncedAt: Date | null, now: number): number | null {
  if (!lastSyncedAt) return null;
  return Math.max(0, Math.round((now - lastSyncedAt.getTime()) / 1000));
}

export function serializeSchema(t: Table, now: number) {
  return {
    id: t.id,
    source_id: t.sourceId,
    table_id: t.tableId,
    name: t.tableName,
    mirror_schema: t.schemaName,
    mirror_table: t.mirrorTable,
    sync_type: t.syncType,
    incremental: t.syncType === 'incremental',
    incremental_field: t.incrementalField,
    // Stored as the field's Airtable type; shown as PostHog's, with the Airtable one beside.
    incremental_field_type: t.incrementalFieldType ? posthogTypeOf(t.incrementalFieldType) : null,
    incremental_field_airtable_type: t.incrementalFieldType,
    primary_key_columns: t.primaryKeyColumns,
    sync_frequency: t.syncFrequency,
    sync_time_of_day: t.syncTimeOfDay,
    should_sync: t.shouldSync,
    full_refresh_interval: t.fullRefreshInterval,
    status: t.status,
    last_synced_at: iso(t.lastSyncedAt),
    latest_error: t.latestError,
    rows: t.rowCount,
    lag_seconds: lagSeconds(t.lastSyncedAt, now),
    needs_catchup: t.needsCatchup,
    resync_required: t.resyncRequired,
    high_water_mark: t.highWaterInt !== null ? String(t.highWaterInt) : iso(t.highWaterMark),
    history_table: t.historyTable,
    next_run_at: iso(t.nextRunAt),
    vanished_at: iso(t.vanishedAt),
    created_at: iso(t.createdAt)!,
    mirrored: t.mirrored,
    excluded_fields: t.excludedFields,
    fill_pending: t.fillPending,
    warnings: t.schemaWarnings.map((w) => w.message),
  };
}
export type SchemaJson = ReturnType<typeof serializeSchema>;

export function serializeSource(s: Source, tables: Table[], now: number) {
  return {
    id: s.id,
    base_id: s.baseId,
    schema_name: s.schemaName,
    name: s.name,
    description: s.description,
    has_token: s.tokenEncrypted != null,
    max_lag_seconds: s.maxLagSeconds,
    created_at: iso(s.createdAt)!,
    updated_at: iso(s.updatedAt)!,
    schemas: tables.map((t) => serializeSchema(t, now)),
  };
}
