import type { Migration } from './migration.ts';

/**
 * Sources (bases), their tables' sync configuration, the field ↔ column map and sync runs.
 * The API calls a table's sync configuration a "schema" (PostHog's ExternalDataSchema); the
 * SQL table is `airmirror.tables` because here a schema is a Postgres schema.
 */
export const m001_bookkeeping: Migration = {
  version: 1,
  name: 'bookkeeping',
  up: [
    `CREATE TABLE airmirror.sources (
      id text PRIMARY KEY,
      base_id text NOT NULL UNIQUE,
      schema_name text NOT NULL UNIQUE,
      token_encrypted text,
      schema_hash text,
      base_schema jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE airmirror.tables (
      id text PRIMARY KEY,
      source_id text NOT NULL REFERENCES airmirror.sources(id) ON DELETE CASCADE,
      table_id text NOT NULL,
      table_name text NOT NULL,
      mirror_table text NOT NULL,
      sync_type text NOT NULL DEFAULT 'full_refresh',
      incremental_field text,
      incremental_field_type text,
      primary_key_columns text[] NOT NULL DEFAULT '{id}',
      sync_frequency text NOT NULL DEFAULT '1hour',
      sync_time_of_day time,
      should_sync boolean NOT NULL DEFAULT true,
      full_refresh_interval text NOT NULL DEFAULT '24hour',
      status text,
      last_synced_at timestamptz,
      last_full_refresh_at timestamptz,
      latest_error text,
      row_count bigint NOT NULL DEFAULT 0,
      needs_catchup boolean NOT NULL DEFAULT false,
      high_water_mark timestamptz,
      vanished_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (source_id, table_id)
    )`,
    `CREATE TABLE airmirror.columns (
      source_id text NOT NULL REFERENCES airmirror.sources(id) ON DELETE CASCADE,
      table_id text NOT NULL,
      field_id text NOT NULL,
      field_name text NOT NULL,
      column_name text NOT NULL,
      airtable_type text NOT NULL,
      pg_type text NOT NULL,
      position integer NOT NULL,
      PRIMARY KEY (source_id, table_id, field_id),
      UNIQUE (source_id, table_id, column_name)
    )`,
    `CREATE TABLE airmirror.sync_runs (
      id bigserial PRIMARY KEY,
      source_id text NOT NULL REFERENCES airmirror.sources(id) ON DELETE CASCADE,
      table_id text,
      kind text NOT NULL,
      status text NOT NULL DEFAULT 'running',
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      requests integer NOT NULL DEFAULT 0,
      records_seen integer NOT NULL DEFAULT 0,
      records_upserted integer NOT NULL DEFAULT 0,
      records_skipped integer NOT NULL DEFAULT 0,
      records_deleted integer NOT NULL DEFAULT 0,
      cell_errors integer NOT NULL DEFAULT 0,
      error text
    )`,
    `CREATE INDEX sync_runs_source_started ON airmirror.sync_runs (source_id, started_at DESC)`,
  ],
};
