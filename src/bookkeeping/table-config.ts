/**
 * Writes to `airmirror.tables` other than status changes (those are `changeStatus`'s, tables.ts):
 * the rows a base's schema gives it, the configuration the API changes, and the columns a sync
 * type or a catch-up keeps for itself.
 */
import type { Database, Queryable } from '../db/database.ts';
import { sql, type Sql } from '../db/sql.ts';
import type { TablesRow } from './rows.ts';
import { changeStatus, type Table } from './tables.ts';

/** A table of a base as the mirror names it (src/mirror's TableMapping fits). */
export interface MappedTable {
  tableId: string;
  tableName: string;
  /** The mirror table's name. */
  table: string;
}

/** Config rows (with the defaults) for a new source's tables, so they can be configured at once. */
export async function insertDiscoveredTables(
  q: Queryable,
  sourceId: string,
  tables: readonly MappedTable[],
): Promise<void> {
  await q.query(
    sql(
      `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table)
       SELECT gen_random_uuid()::text, $1, t.table_id, t.table_name, t.mirror_table
       FROM unnest($2::text[], $3::text[], $4::text[]) AS t(table_id, table_name, mirror_table)
       ON CONFLICT (source_id, table_id) DO NOTHING`,
      [sourceId, tables.map((t) => t.tableId), tables.map((t) => t.tableName), tables.map((t) => t.table)],
    ),
  );
}

/**
 * The rows of a base's tables as the mirror now maps them (src/mirror saveMapping): names, mirror
 * table and position only — the sync configuration of existing rows is left alone, new rows get
 * the defaults. Tables no longer in the base get `vanished_at`; tables that are get it cleared.
 */
export async function saveMappedTables(
  q: Queryable,
  sourceId: string,
  tables: readonly MappedTable[],
): Promise<void> {
  await q.query(
    sql(
      `INSERT INTO airmirror.tables (id, source_id, table_id, table_name, mirror_table, mirror_position)
       SELECT gen_random_uuid()::text, $1, t.table_id, t.table_name, t.mirror_table, t.pos::int
       FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(table_id, table_name, mirror_table, pos)
       ON CONFLICT (source_id, table_id) DO UPDATE SET
         table_name = excluded.table_name, mirror_table = excluded.mirror_table,
         mirror_position = excluded.mirror_position, vanished_at = NULL, updated_at = now()`,
      [sourceId, tables.map((t) => t.tableId), tables.map((t) => t.tableName), tables.map((t) => t.table)],
    ),
  );
  await q.query(
    sql(
      `UPDATE airmirror.tables SET vanished_at = now(), updated_at = now()
       WHERE source_id = $1 AND vanished_at IS NULL AND NOT (table_id = ANY($2::text[]))`,
      [sourceId, tables.map((t) => t.tableId)],
    ),
  );
}

/** Columns the management API may change, and their column (a fixed list: never from input). */
const CONFIG_COLUMNS = {
  syncType: 'sync_type',
  incrementalField: 'incremental_field',
  incrementalFieldType: 'incremental_field_type',
  primaryKeyColumns: 'primary_key_columns',
  syncFrequency: 'sync_frequency',
  syncTimeOfDay: 'sync_time_of_day',
  shouldSync: 'should_sync',
  fullRefreshInterval: 'full_refresh_interval',
  nextRunAt: 'next_run_at',
  resyncRequired: 'resync_required',
  highWaterMark: 'high_water_mark',
  highWaterInt: 'high_water_int',
  consecutiveFailures: 'consecutive_failures',
} as const satisfies Partial<Record<keyof Table, keyof TablesRow>>;

/** A change of a table's configuration: only the fields present change. */
export type TableChanges = Partial<Pick<Table, keyof typeof CONFIG_COLUMNS>>;

/**
 * Changes a table's configuration and, with `event` (pause / resume), its status through the state
 * machine, in one transaction. Refused (false) while the table is Running, so a run that started
 * between the caller's check and this write is not reconfigured under its feet — except with
 * `evenIfRunning`, for a pause, which the state machine allows from Running (the run's own outcome
 * then leaves it Paused). Also false when the table does not exist.
 */
export async function updateTableConfig(
  db: Pick<Database, 'tx'>,
  id: string,
  changes: TableChanges,
  opts: { evenIfRunning?: boolean; event?: 'pause' | 'resume' } = {},
): Promise<boolean> {
  return db.tx(async (q) => {
    const cur = await q.query<Pick<TablesRow, 'source_id' | 'table_id' | 'status'>>(
      sql('SELECT source_id, table_id, status FROM airmirror.tables WHERE id = $1 FOR UPDATE', [id]),
    );
    const row = cur.rows[0];
    if (!row || (row.status === 'Running' && !opts.evenIfRunning)) return false;
    if (opts.event) await changeStatus(q, row.source_id, row.table_id, opts.event, { ifAllowed: true });
    const sets: string[] = [];
    const values: unknown[] = [id];
    for (const [key, column] of Object.entries(CONFIG_COLUMNS) as [keyof TableChanges, string][]) {
      if (!(key in changes)) continue;
      values.push(changes[key]);
      sets.push(`${column} = $${values.length}`);
    }
    sets.push('updated_at = now()');
    await q.query(sql(`UPDATE airmirror.tables SET ${sets.join(', ')} WHERE id = $1`, values));
    return true;
  });
}

/**
 * A table whose mirror data was deleted: nothing synced any more, and the next run re-imports
 * everything (and must not trust what it remembered of the rows) — unless a run started meanwhile.
 */
export async function markDataDeleted(q: Queryable, id: string): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables
          SET row_count = 0, high_water_mark = NULL, high_water_int = NULL, last_synced_at = NULL, last_full_refresh_at = NULL,
              next_run_at = NULL,
              resync_required = CASE WHEN status IS DISTINCT FROM 'Running' THEN true ELSE resync_required END,
              updated_at = now()
        WHERE id = $1`,
      [id],
    ),
  );
}

/**
 * Stores an incremental table's high-water mark. After an incremental listing it only moves
 * forward; after a reconciliation it is what the mirror holds (`replace`).
 */
export async function storeHighWaterMark(
  q: Queryable,
  sourceId: string,
  tableId: string,
  hwm: Date | null,
  replace: boolean,
): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables
          SET high_water_mark = CASE WHEN $4::boolean THEN $3::timestamptz
                                     ELSE GREATEST(high_water_mark, $3::timestamptz) END,
              updated_at = now()
        WHERE source_id = $1 AND table_id = $2`,
      [sourceId, tableId, hwm, replace],
    ),
  );
}

/**
 * Stores the high-water mark of an integer incremental field (an autoNumber), with the same rule
 * as storeHighWaterMark: forward only after an incremental listing, what the mirror holds after a
 * reconciliation.
 */
export async function storeIntegerHighWaterMark(
  q: Queryable,
  sourceId: string,
  tableId: string,
  hwm: number | null,
  replace: boolean,
): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables
          SET high_water_int = CASE WHEN $4::boolean THEN $3::bigint ELSE GREATEST(high_water_int, $3::bigint) END,
              updated_at = now()
        WHERE source_id = $1 AND table_id = $2`,
      [sourceId, tableId, hwm, replace],
    ),
  );
}

/** An `append` table's history table (null before its first run) and whether a resync is owed. */
export async function historyState(
  q: Queryable,
  sourceId: string,
  tableId: string,
): Promise<{ historyTable: string | null; resyncRequired: boolean }> {
  const r = await q.query<Pick<TablesRow, 'history_table' | 'resync_required'>>(
    sql(
      'SELECT history_table, resync_required FROM airmirror.tables WHERE source_id = $1 AND table_id = $2',
      [sourceId, tableId],
    ),
  );
  return {
    historyTable: r.rows[0]?.history_table ?? null,
    resyncRequired: r.rows[0]?.resync_required ?? false,
  };
}

/** Keeps the name of an `append` table's history table (chosen once). */
export async function setHistoryTable(
  q: Queryable,
  sourceId: string,
  tableId: string,
  name: string,
): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables SET history_table = $3, updated_at = now()
        WHERE source_id = $1 AND table_id = $2 AND history_table IS DISTINCT FROM $3`,
      [sourceId, tableId, name],
    ),
  );
}

/** Marks tables for a catch-up sweep (shown by `status`); cleared once one completed. */
export async function setNeedsCatchup(
  q: Queryable,
  sourceId: string,
  tableIds: string[],
  on: boolean,
): Promise<void> {
  if (tableIds.length === 0) return;
  await q.query(
    sql(
      `UPDATE airmirror.tables SET needs_catchup = $3, updated_at = now()
       WHERE source_id = $1 AND table_id = ANY($2::text[])`,
      [sourceId, tableIds, on],
    ),
  );
}

/** `status` shows a table (of a base, by id or name) owed a catch-up of queued proxy writes. */
export function markNeedsCatchup(baseId: string, tableRef: string): Sql {
  return sql(
    `UPDATE airmirror.tables t SET needs_catchup = true, updated_at = now()
       FROM airmirror.sources s
      WHERE t.source_id = s.id AND s.base_id = $1 AND (t.table_id = $2 OR t.table_name = $2)
        AND NOT t.needs_catchup`,
    [baseId, tableRef],
  );
}

/** Clears the catch-up flag of a source's tables with nothing left queued in `airmirror.catchup`. */
export function clearNeedsCatchup(sourceId: string): Sql {
  return sql(
    `UPDATE airmirror.tables t SET needs_catchup = false, updated_at = now()
      WHERE t.source_id = $1 AND t.needs_catchup
        AND NOT EXISTS (
          SELECT 1 FROM airmirror.catchup c
           WHERE c.source_id = t.source_id AND (c.table_ref = t.table_id OR c.table_ref = t.table_name))`,
    [sourceId],
  );
}
