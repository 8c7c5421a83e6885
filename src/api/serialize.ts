/** Rows of the airmirror schema → the API's snake_case JSON. Tokens never leave through here. */
import type { SourceRow, TableRow } from './store.ts';

const iso = (d: Date | string | null | undefined): string | null =>
  d == null ? null : d instanceof Date ? d.toISOString() : new Date(d).toISOString();

/** Seconds since the last successful sync; null when never synced. */
export function lagSeconds(lastSyncedAt: Date | null, now: number): number | null {
  if (!lastSyncedAt) return null;
  return Math.max(0, Math.round((now - lastSyncedAt.getTime()) / 1000));
}

export function serializeSchema(t: TableRow, now: number) {
  return {
    id: t.id,
    source_id: t.source_id,
    table_id: t.table_id,
    name: t.table_name,
    mirror_schema: t.schema_name,
    mirror_table: t.mirror_table,
    sync_type: t.sync_type,
    incremental: t.sync_type === 'incremental',
    incremental_field: t.incremental_field,
    incremental_field_type: t.incremental_field_type,
    primary_key_columns: t.primary_key_columns,
    sync_frequency: t.sync_frequency,
    sync_time_of_day: t.sync_time_of_day,
    should_sync: t.should_sync,
    full_refresh_interval: t.full_refresh_interval,
    status: t.status,
    last_synced_at: iso(t.last_synced_at),
    latest_error: t.latest_error,
    rows: Number(t.row_count),
    lag_seconds: lagSeconds(t.last_synced_at, now),
    needs_catchup: t.needs_catchup,
    resync_required: t.resync_required,
    high_water_mark: iso(t.high_water_mark),
    history_table: t.history_table,
    next_run_at: iso(t.next_run_at),
    vanished_at: iso(t.vanished_at),
    created_at: iso(t.created_at)!,
  };
}
export type SchemaJson = ReturnType<typeof serializeSchema>;

export function serializeSource(s: SourceRow, tables: TableRow[], now: number) {
  return {
    id: s.id,
    base_id: s.base_id,
    schema_name: s.schema_name,
    name: s.name,
    has_token: s.token_encrypted != null,
    created_at: iso(s.created_at)!,
    updated_at: iso(s.updated_at)!,
    schemas: tables.map((t) => serializeSchema(t, now)),
  };
}
