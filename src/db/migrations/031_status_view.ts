import type { Migration } from './migration.ts';

/**
 * Sync status for SQL readers (issue 13), like Sequin's `_sync_meta`: `airmirror.sync_status`, one
 * row per mirrored table, and `airmirror.source_status`, one row per source (its schema reads).
 * The API's and the CLI's status read the same freshness and rows (src/bookkeeping/status.ts).
 *
 * - `fresh_at`: when the mirror table was last known to match Airtable. For most tables the end of
 *   the last successful run; for a `webhook` table whose base's hook is active, also the last
 *   time a drain of its payloads moved the cursor (changes applied), whichever is later.
 * - `lag_seconds`: now() − fresh_at.
 * - `rows`: the current number of rows, kept by the write path in the statement that inserts or
 *   deletes them (migration 030).
 * Views run with their owner's privileges: `GRANT USAGE ON SCHEMA airmirror` and `GRANT SELECT`
 * on the views let a reader see them without seeing the bookkeeping tables themselves.
 */
export const m031_status_view: Migration = {
  version: 31,
  name: 'status view',
  up: [
    `CREATE VIEW airmirror.sync_status AS
      SELECT s.id AS source_id, s.base_id, t.id AS schema_id, t.table_id, t.table_name,
             s.schema_name AS mirror_schema, t.mirror_table, t.sync_type,
             CASE WHEN NOT t.mirrored THEN 'Excluded'
                  WHEN NOT t.should_sync THEN 'Paused'
                  ELSE coalesce(t.status, 'Pending') END AS status,
             r.started_at AS last_sync_started_at, r.finished_at AS last_sync_finished_at,
             t.last_synced_at, f.fresh_at,
             round(EXTRACT(EPOCH FROM (now() - f.fresh_at)))::bigint AS lag_seconds,
             t.row_count AS rows, t.latest_error, t.schema_warnings AS warnings,
             t.fill_pending, s.schema_error AS source_error
        FROM airmirror.tables t
        JOIN airmirror.sources s ON s.id = t.source_id
        LEFT JOIN airmirror.webhooks w ON w.source_id = t.source_id AND w.status = 'active'
        CROSS JOIN LATERAL (SELECT CASE WHEN t.sync_type = 'webhook' AND w.last_payload_at IS NOT NULL
                                        THEN GREATEST(t.last_synced_at, w.last_payload_at)
                                        ELSE t.last_synced_at END AS fresh_at) f
        LEFT JOIN LATERAL (SELECT x.started_at, x.finished_at FROM airmirror.sync_runs x
                            WHERE x.source_id = t.source_id AND x.table_id = t.table_id
                            ORDER BY x.started_at DESC LIMIT 1) r ON true
       WHERE t.vanished_at IS NULL`,
    `CREATE VIEW airmirror.source_status AS
      SELECT id AS source_id, base_id, schema_name, schema_checked_at, schema_error,
             schema_failing_since, schema_failures, schema_retry_at
        FROM airmirror.sources`,
  ],
};
