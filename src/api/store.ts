/**
 * SQL of the management API over `airmirror.sources` / `airmirror.tables` (migrations 001, 003).
 * Small functions returning `{ text, values }`; values are always parameters.
 */
import type { SourcesRow, TablesRow } from '../bookkeeping/rows.ts';
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/** A source as the API reads it (`SELECT *`). */
export type SourceRow = SourcesRow;

/** A table as the API reads it: every column, plus its source's schema and base (TABLE_SELECT). */
export interface TableRow extends TablesRow {
  schema_name: string;
  base_id: string;
}

const TABLE_SELECT = `SELECT t.*, s.schema_name, s.base_id
  FROM airmirror.tables t JOIN airmirror.sources s ON s.id = t.source_id`;

export const listSources = () => sql('SELECT * FROM airmirror.sources ORDER BY created_at, id');
export const getSource = (id: string) => sql('SELECT * FROM airmirror.sources WHERE id = $1', [id]);

export const insertSource = (s: {
  id: string;
  baseId: string;
  schemaName: string;
  name: string | null;
  tokenEncrypted: string;
}) =>
  sql(
    `INSERT INTO airmirror.sources (id, base_id, schema_name, name, token_encrypted)
     VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [s.id, s.baseId, s.schemaName, s.name, s.tokenEncrypted],
  );

export const sourceConflicts = (baseId: string, schemaName: string) =>
  sql(`SELECT base_id, schema_name FROM airmirror.sources WHERE base_id = $1 OR schema_name = $2`, [
    baseId,
    schemaName,
  ]);

export const deleteSource = (id: string) => sql('DELETE FROM airmirror.sources WHERE id = $1', [id]);

export const listTables = (sourceId?: string) =>
  sourceId === undefined
    ? sql(`${TABLE_SELECT} ORDER BY s.created_at, s.id, t.table_name, t.id`)
    : sql(`${TABLE_SELECT} WHERE t.source_id = $1 ORDER BY t.table_name, t.id`, [sourceId]);

export const getTable = (id: string) => sql(`${TABLE_SELECT} WHERE t.id = $1`, [id]);

/** Columns of airmirror.tables the API may change (a fixed list: never interpolated from input). */
export const PATCHABLE_COLUMNS = [
  'sync_type',
  'incremental_field',
  'incremental_field_type',
  'primary_key_columns',
  'sync_frequency',
  'sync_time_of_day',
  'should_sync',
  'full_refresh_interval',
  'status',
  'next_run_at',
  'resync_required',
  'high_water_mark',
  'consecutive_failures',
] as const satisfies readonly (keyof TablesRow)[];
export type PatchableColumn = (typeof PATCHABLE_COLUMNS)[number];

/**
 * Updates only the given columns. Guarded by `status IS DISTINCT FROM 'Running'` so a run that
 * started between the API's check and this write is not reconfigured under its feet — except for
 * a pause, which the state machine allows from Running (the run's own outcome then leaves it Paused).
 */
export function updateTable(
  id: string,
  changes: Partial<Record<PatchableColumn, unknown>>,
  opts: { evenIfRunning?: boolean } = {},
) {
  const sets: string[] = [];
  const values: unknown[] = [id];
  for (const col of PATCHABLE_COLUMNS) {
    if (!(col in changes)) continue;
    values.push(changes[col]);
    sets.push(`${col} = $${values.length}`);
  }
  sets.push('updated_at = now()');
  return sql(
    `UPDATE airmirror.tables SET ${sets.join(', ')}
      WHERE id = $1 ${opts.evenIfRunning ? '' : `AND status IS DISTINCT FROM 'Running'`} RETURNING id`,
    values,
  );
}

export const markDataDeleted = (id: string) =>
  sql(
    `UPDATE airmirror.tables
        SET row_count = 0, high_water_mark = NULL, last_synced_at = NULL, last_full_refresh_at = NULL,
            next_run_at = NULL, updated_at = now()
      WHERE id = $1`,
    [id],
  );

export async function one<R extends object>(q: Queryable, statement: ReturnType<typeof sql>) {
  const r = await q.query<R & Record<string, unknown>>(statement);
  return r.rows[0] as R | undefined;
}

export async function all<R extends object>(q: Queryable, statement: ReturnType<typeof sql>) {
  const r = await q.query<R & Record<string, unknown>>(statement);
  return r.rows as R[];
}
