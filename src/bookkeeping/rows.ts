/**
 * The rows of airmirror's bookkeeping tables as Postgres returns them (`SELECT *`), column for
 * column (migrations 001–008, 030, 050–052). Internal to src/bookkeeping: every reader gets the camelCase types
 * (`Source`, `Table`, `SyncRun`) the modules next to this one map these rows to.
 * test/bookkeeping/rows.test.ts holds the column lists against the migrated database, so a
 * migration that adds a column must add it here.
 */

/** One `airmirror.sources` row: a base mirrored into a Postgres schema. */
export interface SourcesRow {
  id: string;
  base_id: string;
  /** Postgres schema of the mirror tables. */
  schema_name: string;
  name: string | null;
  /** Encrypted token of an API-created source (src/crypto); null for env-configured ones. */
  token_encrypted: string | null;
  /** schemaHash() of the base schema the mirror tables were built from; null before the first build. */
  schema_hash: string | null;
  base_schema: unknown;
  created_at: Date;
  updated_at: Date;
  description: string | null;
  /** When the base schema was last read successfully (migration 030). */
  schema_checked_at: Date | null;
  /** The last schema read's error while it keeps failing; null once one succeeds. */
  schema_error: string | null;
  schema_failing_since: Date | null;
  schema_failures: number;
  schema_retry_at: Date | null;
  /** Freshness target of its webhook tables (migration 060, src/quota). */
  max_lag_seconds: number;
}

/** One `airmirror.tables` row: a table's sync configuration and state. */
export interface TablesRow {
  id: string;
  source_id: string;
  table_id: string;
  table_name: string;
  mirror_table: string;
  mirror_position: number | null;
  sync_type: string;
  incremental_field: string | null;
  incremental_field_type: string | null;
  primary_key_columns: string[];
  sync_frequency: string;
  sync_time_of_day: string | null;
  should_sync: boolean;
  full_refresh_interval: string;
  status: string | null;
  last_synced_at: Date | null;
  last_full_refresh_at: Date | null;
  latest_error: string | null;
  /** bigint: a string unless it is a safe integer (src/db/database.ts). */
  row_count: number | string;
  needs_catchup: boolean;
  high_water_mark: Date | null;
  vanished_at: Date | null;
  created_at: Date;
  updated_at: Date;
  next_run_at: Date | null;
  consecutive_failures: number;
  resync_required: boolean;
  history_table: string | null;
  /** bigint: the high-water mark of an integer incremental field (an autoNumber). */
  high_water_int: number | string | null;
  /** Whether the table is mirrored at all (migration 030); false: no mirror table, never listed. */
  mirrored: boolean;
  /** Airtable field ids never requested nor stored. */
  excluded_fields: string[];
  /** New or retyped columns wait for their values: the next run is a full one. */
  fill_pending: boolean;
  /** `[{kind, message, at}]`: what schema changes could not keep or only approximate. */
  schema_warnings: unknown;
}

/** One `airmirror.sync_runs` row: what one run of a table (or a source's schema step) did. */
export interface SyncRunsRow {
  /** bigserial, read as text. */
  id: string;
  source_id: string;
  /** Airtable table id; null for a source-level step (schema read, rebuild promote). */
  table_id: string | null;
  table_name: string | null;
  kind: string;
  status: string;
  started_at: Date;
  finished_at: Date | null;
  requests: number;
  records_seen: number;
  records_upserted: number;
  records_skipped: number;
  records_deleted: number;
  cell_errors: number;
  error: string | null;
  records_inserted: number;
  records_updated: number;
  records_unchanged: number;
  records_cached: number;
  records_fenced_out: number;
  listing_restarts: number;
  rebuild: boolean;
  schema_hash: string | null;
}

/** Every column, so a test can hold the types above against the migrated tables. */
export const SOURCES_COLUMNS = [
  'id',
  'base_id',
  'schema_name',
  'name',
  'token_encrypted',
  'schema_hash',
  'base_schema',
  'created_at',
  'updated_at',
  'description',
  'schema_checked_at',
  'schema_error',
  'schema_failing_since',
  'schema_failures',
  'schema_retry_at',
  'max_lag_seconds',
] as const satisfies readonly (keyof SourcesRow)[];

export const TABLES_COLUMNS = [
  'id',
  'source_id',
  'table_id',
  'table_name',
  'mirror_table',
  'mirror_position',
  'sync_type',
  'incremental_field',
  'incremental_field_type',
  'primary_key_columns',
  'sync_frequency',
  'sync_time_of_day',
  'should_sync',
  'full_refresh_interval',
  'status',
  'last_synced_at',
  'last_full_refresh_at',
  'latest_error',
  'row_count',
  'needs_catchup',
  'high_water_mark',
  'vanished_at',
  'created_at',
  'updated_at',
  'next_run_at',
  'consecutive_failures',
  'resync_required',
  'history_table',
  'high_water_int',
  'mirrored',
  'excluded_fields',
  'fill_pending',
  'schema_warnings',
] as const satisfies readonly (keyof TablesRow)[];

export const SYNC_RUNS_COLUMNS = [
  'id',
  'source_id',
  'table_id',
  'table_name',
  'kind',
  'status',
  'started_at',
  'finished_at',
  'requests',
  'records_seen',
  'records_upserted',
  'records_skipped',
  'records_deleted',
  'cell_errors',
  'error',
  'records_inserted',
  'records_updated',
  'records_unchanged',
  'records_cached',
  'records_fenced_out',
  'listing_restarts',
  'rebuild',
  'schema_hash',
] as const satisfies readonly (keyof SyncRunsRow)[];

// And the other way round: a key of the interfaces missing from a list fails to compile here.
type Unlisted<Row, List extends readonly string[]> = Exclude<keyof Row, List[number]>;
const everySourcesColumnListed: [Unlisted<SourcesRow, typeof SOURCES_COLUMNS>] extends [never]
  ? true
  : never = true;
const everyTablesColumnListed: [Unlisted<TablesRow, typeof TABLES_COLUMNS>] extends [never] ? true : never =
  true;
const everySyncRunsColumnListed: [Unlisted<SyncRunsRow, typeof SYNC_RUNS_COLUMNS>] extends [never]
  ? true
  : never = true;
void everySourcesColumnListed;
void everyTablesColumnListed;
void everySyncRunsColumnListed;
