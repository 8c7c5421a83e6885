/**
 * The `airmirror.sync_status` and `airmirror.source_status` views (migration 031), which SQL
 * readers query and which the API's and the CLI's status read too, so all three show the same
 * freshness and rows.
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { SchemaWarning } from './tables.ts';

export interface SyncStatusRow {
  sourceId: string;
  tableId: string;
  /** When the mirror table was last known to match Airtable (see the view's comment). */
  freshAt: Date | null;
  rows: number;
  warnings: SchemaWarning[];
  fillPending: boolean;
  lastSyncStartedAt: Date | null;
  lastSyncFinishedAt: Date | null;
}

export async function syncStatusRows(q: Queryable, sourceId?: string): Promise<SyncStatusRow[]> {
  const r = await q.query<{
    source_id: string;
    table_id: string;
    fresh_at: Date | null;
    rows: string | number;
    warnings: SchemaWarning[] | null;
    fill_pending: boolean;
    last_sync_started_at: Date | null;
    last_sync_finished_at: Date | null;
  }>(
    sql(
      `SELECT source_id, table_id, fresh_at, rows, warnings, fill_pending, last_sync_started_at, last_sync_finished_at
         FROM airmirror.sync_status WHERE $1::text IS NULL OR source_id = $1`,
      [sourceId ?? null],
    ),
  );
  return r.rows.map((x) => ({
    sourceId: x.source_id,
    tableId: x.table_id,
    freshAt: x.fresh_at,
    rows: Number(x.rows),
    warnings: Array.isArray(x.warnings) ? x.warnings : [],
    fillPending: x.fill_pending,
    lastSyncStartedAt: x.last_sync_started_at,
    lastSyncFinishedAt: x.last_sync_finished_at,
  }));
}

export interface SourceStatusRow {
  sourceId: string;
  baseId: string;
  schema: string;
  schemaCheckedAt: Date | null;
  schemaError: string | null;
  schemaFailingSince: Date | null;
  schemaFailures: number;
  schemaRetryAt: Date | null;
}

export async function sourceStatusRows(q: Queryable, sourceId?: string): Promise<SourceStatusRow[]> {
  const r = await q.query<{
    source_id: string;
    base_id: string;
    schema_name: string;
    schema_checked_at: Date | null;
    schema_error: string | null;
    schema_failing_since: Date | null;
    schema_failures: number;
    schema_retry_at: Date | null;
  }>(
    sql(
      `SELECT source_id, base_id, schema_name, schema_checked_at, schema_error, schema_failing_since,
              schema_failures, schema_retry_at
         FROM airmirror.source_status WHERE $1::text IS NULL OR source_id = $1 ORDER BY schema_name`,
      [sourceId ?? null],
    ),
  );
  return r.rows.map((x) => ({
    sourceId: x.source_id,
    baseId: x.base_id,
    schema: x.schema_name,
    schemaCheckedAt: x.schema_checked_at,
    schemaError: x.schema_error,
    schemaFailingSince: x.schema_failing_since,
    schemaFailures: x.schema_failures,
    schemaRetryAt: x.schema_retry_at,
  }));
}
