import { TABLES_COLUMNS, type SourcesRow, type TablesRow } from './rows.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import {
  canTransition,
  isSyncStatus,
  settle,
  transition,
  type StoredStatus,
  type SyncEvent,
} from './state.ts';
import { failRunningRuns } from './runs.ts';

/**
 * An `airmirror.tables` row — a table's sync configuration and state — with its source's Postgres
 * schema and base id, which every reader needs next to it.
 */
export interface Table {
  id: string;
  sourceId: string;
  /** Airtable table id (tbl…). */
  tableId: string;
  tableName: string;
  mirrorTable: string;
  mirrorPosition: number | null;
  syncType: string;
  incrementalField: string | null;
  incrementalFieldType: string | null;
  primaryKeyColumns: string[];
  syncFrequency: string;
  /** 'HH:MM:SS' (Postgres `time` text), UTC; null for none. */
  syncTimeOfDay: string | null;
  shouldSync: boolean;
  fullRefreshInterval: string;
  status: StoredStatus;
  lastSyncedAt: Date | null;
  lastFullRefreshAt: Date | null;
  latestError: string | null;
  rowCount: number;
  needsCatchup: boolean;
  highWaterMark: Date | null;
  /** The high-water mark of an integer incremental field (an autoNumber); highWaterMark is a time field's. */
  highWaterInt: number | null;
  vanishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  nextRunAt: Date | null;
  consecutiveFailures: number;
  resyncRequired: boolean;
  historyTable: string | null;
  /** The source's Postgres schema (sources.schema_name). */
  schemaName: string;
  /** The source's base (sources.base_id). */
  baseId: string;
}

type Row = TablesRow & Pick<SourcesRow, 'schema_name' | 'base_id'>;

function toTable(r: Row): Table {
  return {
    id: r.id,
    sourceId: r.source_id,
    tableId: r.table_id,
    tableName: r.table_name,
    mirrorTable: r.mirror_table,
    mirrorPosition: r.mirror_position,
    syncType: r.sync_type,
    incrementalField: r.incremental_field,
    incrementalFieldType: r.incremental_field_type,
    primaryKeyColumns: r.primary_key_columns,
    syncFrequency: r.sync_frequency,
    syncTimeOfDay: r.sync_time_of_day,
    shouldSync: r.should_sync,
    fullRefreshInterval: r.full_refresh_interval,
    status: isSyncStatus(r.status) ? r.status : null,
    lastSyncedAt: r.last_synced_at,
    lastFullRefreshAt: r.last_full_refresh_at,
    latestError: r.latest_error,
    rowCount: Number(r.row_count),
    needsCatchup: r.needs_catchup,
    highWaterMark: r.high_water_mark,
    highWaterInt: r.high_water_int === null ? null : Number(r.high_water_int),
    vanishedAt: r.vanished_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    nextRunAt: r.next_run_at,
    consecutiveFailures: r.consecutive_failures,
    resyncRequired: r.resync_required,
    historyTable: r.history_table,
    schemaName: r.schema_name,
    baseId: r.base_id,
  };
}

/** Every column of the table, and its source's schema and base. `where` names tables `t`, sources `s`. */
function selectTables(where: string): string {
  return `SELECT ${TABLES_COLUMNS.map((c) => `t.${c}`).join(', ')}, s.schema_name, s.base_id
    FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id ${where}`;
}

/** Tables read with `where` (text of this folder's own, never input; values as parameters). */
export async function queryTables(q: Queryable, where: string, values: unknown[] = []): Promise<Table[]> {
  const r = await q.query<Row>(sql(selectTables(where), values));
  return r.rows.map(toTable);
}

/** The tables of one source, or of all (sources in the order they were created): the API's lists. */
export function listTables(q: Queryable, sourceId?: string): Promise<Table[]> {
  return sourceId === undefined
    ? queryTables(q, 'ORDER BY s.created_at, s.id, t.table_name, t.id')
    : queryTables(q, 'WHERE t.source_id = $1 ORDER BY t.table_name, t.id', [sourceId]);
}

/** The tables of one source in the order the syncer runs them. */
export function sourceTables(q: Queryable, sourceId: string): Promise<Table[]> {
  return queryTables(q, 'WHERE t.source_id = $1 ORDER BY t.table_name, t.table_id', [sourceId]);
}

/** A table by its `airmirror.tables` id (the API's schema id). */
export async function loadTable(q: Queryable, id: string): Promise<Table | undefined> {
  return (await queryTables(q, 'WHERE t.id = $1', [id]))[0];
}

/** A table by its source and Airtable table id. */
export async function findTable(q: Queryable, sourceId: string, tableId: string): Promise<Table | undefined> {
  return (await queryTables(q, 'WHERE t.source_id = $1 AND t.table_id = $2', [sourceId, tableId]))[0];
}

export interface TableEventOptions {
  /** For `fail` and `interrupt`: the one-line error stored in latest_error (never a secret). */
  error?: string;
  /** For `succeed`: when the run completed (last_synced_at). */
  at?: Date;
  /** For `succeed`: the mirror table's row count after the run. */
  rowCount?: number;
  /** For `succeed` of a full listing: also stamp last_full_refresh_at. */
  fullRefresh?: boolean;
  /**
   * An event the machine does not allow from the current status leaves the table as it is (and a
   * table that no longer exists is no error): for actors that record what they saw happen, not
   * what they want to happen (the scheduler after a run, a pause made twice).
   */
  ifAllowed?: boolean;
}

/**
 * The one place a table's status changes: moves it by one event of the state machine
 * (src/bookkeeping/state.ts), in the caller's transaction, with the row locked while the transition
 * is decided. Success clears latest_error and stamps last_synced_at; failure sets latest_error.
 * The outcome of a run (succeed/fail/cancel) on a table paused meanwhile leaves it Paused. Throws
 * IllegalTransition when the event is not allowed (unless `ifAllowed`). Resolves with the status
 * the table has afterwards (undefined: no such table, with `ifAllowed`).
 */
export async function changeStatus(
  q: Queryable,
  sourceId: string,
  tableId: string,
  event: SyncEvent,
  opts: TableEventOptions = {},
): Promise<StoredStatus | undefined> {
  const cur = await q.query<{ status: string | null }>(
    sql('SELECT status FROM airmirror.tables WHERE source_id = $1 AND table_id = $2 FOR UPDATE', [
      sourceId,
      tableId,
    ]),
  );
  if (cur.rowCount === 0) {
    if (opts.ifAllowed) return undefined;
    throw new Error(`table ${tableId} of source ${sourceId} is not configured`);
  }
  const from = isSyncStatus(cur.rows[0].status) ? cur.rows[0].status : null;
  if (opts.ifAllowed && !canTransition(from, event)) return from;
  const next =
    !opts.ifAllowed && (event === 'succeed' || event === 'fail' || event === 'cancel')
      ? settle(from, event)
      : transition(from, event);
  const succeeded = event === 'succeed' && next === 'Completed';
  const failed = event === 'fail' || event === 'interrupt';
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
        failed ? (opts.error ?? 'sync failed') : null,
        (opts.at ?? new Date()).toISOString(),
        opts.fullRefresh ?? false,
        opts.rowCount ?? null,
      ],
    ),
  );
  return next;
}

/** `changeStatus` in a transaction of its own. */
export async function applyTableEvent(
  db: Pick<Database, 'tx'>,
  sourceId: string,
  tableId: string,
  event: SyncEvent,
  opts: TableEventOptions = {},
): Promise<StoredStatus> {
  return db.tx(async (q) => (await changeStatus(q, sourceId, tableId, event, opts)) ?? null);
}

const INTERRUPTED = 'interrupted: the process stopped during the run';

/**
 * A process that stopped mid-run leaves tables Running forever (and `start` is refused there).
 * At syncer start these become Failed with a clear latest_error (`interrupt`), and their runs failed.
 */
export async function failInterruptedRuns(db: Pick<Database, 'tx'>, sourceIds?: string[]): Promise<number> {
  return db.tx(async (q) => {
    const running = await q.query<{ source_id: string; table_id: string }>(
      sql(
        `SELECT source_id, table_id FROM airmirror.tables
          WHERE status = 'Running' AND ($1::text[] IS NULL OR source_id = ANY($1))
          ORDER BY source_id, table_id FOR UPDATE`,
        [sourceIds ?? null],
      ),
    );
    for (const t of running.rows) {
      await changeStatus(q, t.source_id, t.table_id, 'interrupt', { error: INTERRUPTED });
    }
    await failRunningRuns(q, INTERRUPTED, sourceIds);
    return running.rows.length;
  });
}

/** Rows each table had after its last run (by Airtable table id): `sync --once`'s progress totals. */
export async function lastRowCounts(q: Queryable): Promise<Map<string, number>> {
  const r = await q.query<{ table_id: string; row_count: string | number }>(
    sql('SELECT table_id, row_count FROM airmirror.tables WHERE last_synced_at IS NOT NULL'),
  );
  return new Map(r.rows.map((row) => [row.table_id, Number(row.row_count)]));
}

/** Seconds since each live table last synced (null: never), for the metrics gauge. */
export async function tableLags(
  q: Queryable,
): Promise<{ sourceId: string; mirrorTable: string; lagSeconds: number | null }[]> {
  const r = await q.query<{ source_id: string; mirror_table: string; lag: number | null }>(
    sql(`SELECT source_id, mirror_table,
                EXTRACT(EPOCH FROM (now() - last_synced_at))::float8 AS lag
           FROM airmirror.tables WHERE vanished_at IS NULL`),
  );
  return r.rows.map((x) => ({ sourceId: x.source_id, mirrorTable: x.mirror_table, lagSeconds: x.lag }));
}

/** The live (not vanished) tables of a source in mirror order: src/mirror's mapping store reads these. */
export async function mirroredTables(
  q: Queryable,
  sourceId: string,
): Promise<Pick<Table, 'tableId' | 'tableName' | 'mirrorTable'>[]> {
  const r = await q.query<Pick<TablesRow, 'table_id' | 'table_name' | 'mirror_table'>>(
    sql(
      `SELECT table_id, table_name, mirror_table FROM airmirror.tables
       WHERE source_id = $1 AND vanished_at IS NULL
       ORDER BY mirror_position NULLS LAST, table_id`,
      [sourceId],
    ),
  );
  return r.rows.map((x) => ({ tableId: x.table_id, tableName: x.table_name, mirrorTable: x.mirror_table }));
}

/** A source's live tables of one sync type, by name (e.g. the tables Airtable webhooks keep fresh). */
export async function tablesOfSyncType(
  q: Queryable,
  sourceId: string,
  syncType: string,
): Promise<Pick<Table, 'tableId' | 'tableName' | 'mirrorTable' | 'rowCount'>[]> {
  const r = await q.query<Pick<TablesRow, 'table_id' | 'table_name' | 'mirror_table' | 'row_count'>>(
    sql(
      `SELECT table_id, table_name, mirror_table, row_count FROM airmirror.tables
       WHERE source_id = $1 AND sync_type = $2 AND vanished_at IS NULL ORDER BY table_name`,
      [sourceId, syncType],
    ),
  );
  return r.rows.map((x) => ({
    tableId: x.table_id,
    tableName: x.table_name,
    mirrorTable: x.mirror_table,
    rowCount: Number(x.row_count),
  }));
}
