import { TABLES_COLUMNS, type TablesRow } from './rows.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import { isSyncStatus, settle, transition, type StoredStatus, type SyncEvent } from './state.ts';

/** The syncer's view of an `airmirror.tables` row (src/bookkeeping/rows.ts): the columns it uses. */
export interface TableRow {
  id: string;
  sourceId: string;
  tableId: string;
  tableName: string;
  mirrorTable: string;
  syncType: string;
  incrementalField: string | null;
  incrementalFieldType: string | null;
  shouldSync: boolean;
  fullRefreshInterval: string;
  status: StoredStatus;
  lastSyncedAt: Date | null;
  lastFullRefreshAt: Date | null;
  latestError: string | null;
  rowCount: number;
  needsCatchup: boolean;
  highWaterMark: Date | null;
  vanishedAt: Date | null;
}

const COLUMNS = TABLES_COLUMNS.join(', ');

function toRow(r: TablesRow): TableRow {
  return {
    id: r.id,
    sourceId: r.source_id,
    tableId: r.table_id,
    tableName: r.table_name,
    mirrorTable: r.mirror_table,
    syncType: r.sync_type,
    incrementalField: r.incremental_field,
    incrementalFieldType: r.incremental_field_type,
    shouldSync: r.should_sync,
    fullRefreshInterval: r.full_refresh_interval,
    status: isSyncStatus(r.status) ? r.status : null,
    lastSyncedAt: r.last_synced_at,
    lastFullRefreshAt: r.last_full_refresh_at,
    latestError: r.latest_error,
    rowCount: Number(r.row_count),
    needsCatchup: r.needs_catchup,
    highWaterMark: r.high_water_mark,
    vanishedAt: r.vanished_at,
  };
}

export async function loadTableRows(q: Queryable, sourceId: string): Promise<TableRow[]> {
  const r = await q.query<TablesRow>(
    sql(`SELECT ${COLUMNS} FROM airmirror.tables WHERE source_id = $1 ORDER BY table_name, table_id`, [
      sourceId,
    ]),
  );
  return r.rows.map(toRow);
}

export async function loadTableRow(
  q: Queryable,
  sourceId: string,
  tableId: string,
): Promise<TableRow | undefined> {
  const r = await q.query<TablesRow>(
    sql(`SELECT ${COLUMNS} FROM airmirror.tables WHERE source_id = $1 AND table_id = $2`, [
      sourceId,
      tableId,
    ]),
  );
  return r.rows[0] ? toRow(r.rows[0]) : undefined;
}

export interface TableEventOptions {
  /** For `fail`: the one-line error stored in latest_error (never a secret). */
  error?: string;
  /** For `succeed`: when the run completed (last_synced_at). */
  at?: Date;
  /** For `succeed`: the mirror table's row count after the run. */
  rowCount?: number;
  /** For `succeed` of a full listing: also stamp last_full_refresh_at. */
  fullRefresh?: boolean;
}

/**
 * Moves a table's persisted state by one event of the state machine (src/bookkeeping/state.ts), atomically
 * (the row is locked while the transition is decided). Success clears latest_error and stamps
 * last_synced_at; failure sets latest_error. The outcome of a run (succeed/fail/cancel) on a table
 * paused meanwhile leaves it Paused. Throws IllegalTransition when the event is not allowed.
 */
export async function applyTableEvent(
  db: Database,
  sourceId: string,
  tableId: string,
  event: SyncEvent,
  opts: TableEventOptions = {},
): Promise<StoredStatus> {
  return db.tx(async (q) => {
    const cur = await q.query<{ status: string | null }>(
      sql('SELECT status FROM airmirror.tables WHERE source_id = $1 AND table_id = $2 FOR UPDATE', [
        sourceId,
        tableId,
      ]),
    );
    if (cur.rows.length === 0) throw new Error(`table ${tableId} of source ${sourceId} is not configured`);
    const from = isSyncStatus(cur.rows[0].status) ? cur.rows[0].status : null;
    const next =
      event === 'succeed' || event === 'fail' || event === 'cancel'
        ? settle(from, event)
        : transition(from, event);
    const succeeded = event === 'succeed' && next === 'Completed';
    await q.query(
      sql(
        `UPDATE airmirror.tables SET
           status = $3,
           latest_error = CASE WHEN $4::boolean THEN NULL WHEN $5::text IS NOT NULL THEN $5 ELSE latest_error END,
           last_synced_at = CASE WHEN $4::boolean THEN $6::timestamptz ELSE last_synced_at END,
           last_full_refresh_at = CASE WHEN $4::boolean AND $7::boolean THEN $6::timestamptz ELSE last_full_refresh_at END,
           row_count = CASE WHEN $4::boolean AND $8::bigint IS NOT NULL THEN $8 ELSE row_count END,
           updated_at = now()
         WHERE source_id = $1 AND table_id = $2`,
        [
          sourceId,
          tableId,
          next,
          succeeded,
          event === 'fail' ? (opts.error ?? 'sync failed') : null,
          (opts.at ?? new Date()).toISOString(),
          opts.fullRefresh ?? false,
          opts.rowCount ?? null,
        ],
      ),
    );
    return next;
  });
}

/**
 * A process that stopped mid-run leaves tables Running forever (and `start` is refused there).
 * At syncer start these become Failed with a clear latest_error, and their runs failed.
 */
export async function failInterruptedRuns(db: Database, sourceIds?: string[]): Promise<number> {
  return db.tx(async (q) => {
    const r = await q.query(
      sql(
        `UPDATE airmirror.tables SET status = 'Failed', latest_error = 'interrupted: the process stopped during the run',
           updated_at = now()
         WHERE status = 'Running' AND ($1::text[] IS NULL OR source_id = ANY($1))`,
        [sourceIds ?? null],
      ),
    );
    await q.query(
      sql(
        `UPDATE airmirror.sync_runs SET status = 'failed', finished_at = now(),
           error = 'interrupted: the process stopped during the run'
         WHERE status = 'running' AND ($1::text[] IS NULL OR source_id = ANY($1))`,
        [sourceIds ?? null],
      ),
    );
    return r.rowCount ?? 0;
  });
}
