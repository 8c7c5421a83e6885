/**
 * What the schema step (sync/source-run.ts, src/mirror/schema-change.ts) keeps per table besides
 * its status: what is mirrored (tables and fields the operator excluded), which tables still wait
 * for the values of new or retyped columns, their warnings, and their current row count.
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { TablesRow } from './rows.ts';
import type { SchemaWarning } from './tables.ts';

/** What the operator chose not to mirror, and which tables are paused (written by nothing). */
export interface TableSelection {
  /** Airtable table ids excluded from the mirror. */
  excludedTables: Set<string>;
  /** Per Airtable table id: field ids never requested nor stored. */
  excludedFields: Map<string, Set<string>>;
  /** Airtable table ids of paused tables. */
  paused: Set<string>;
}

/**
 * Whether a table is paused (written by nothing: docs/schema-changes.md): the one test for the HTTP
 * proxy's writer, the catch-up and the Postgres endpoint alike.
 */
export function isPaused(t: { shouldSync: boolean; status: string | null }): boolean {
  return !t.shouldSync || t.status === 'Paused';
}

export async function tableSelection(q: Queryable, sourceId: string): Promise<TableSelection> {
  const r = await q.query<
    Pick<TablesRow, 'table_id' | 'mirrored' | 'excluded_fields' | 'should_sync' | 'status'>
  >(
    sql(
      `SELECT table_id, mirrored, excluded_fields, should_sync, status FROM airmirror.tables
        WHERE source_id = $1`,
      [sourceId],
    ),
  );
  const out: TableSelection = { excludedTables: new Set(), excludedFields: new Map(), paused: new Set() };
  for (const row of r.rows) {
    if (!row.mirrored) out.excludedTables.add(row.table_id);
    if (row.excluded_fields.length > 0) out.excludedFields.set(row.table_id, new Set(row.excluded_fields));
    if (isPaused({ shouldSync: row.should_sync, status: row.status })) out.paused.add(row.table_id);
  }
  return out;
}

/**
 * Marks tables whose new or retyped columns wait for their values (`on`), and asks the scheduler
 * to run them now; or clears the mark once a full run of the table completed.
 */
export async function setFillPending(
  q: Queryable,
  sourceId: string,
  tableIds: readonly string[],
  on: boolean,
): Promise<void> {
  if (tableIds.length === 0) return;
  await q.query(
    sql(
      `UPDATE airmirror.tables SET fill_pending = $3,
              next_run_at = CASE WHEN $3 THEN now() ELSE next_run_at END, updated_at = now()
        WHERE source_id = $1 AND table_id = ANY($2::text[]) AND fill_pending IS DISTINCT FROM $3`,
      [sourceId, tableIds, on],
    ),
  );
}

/** Sets a table's row count (a table the promote just replaced; counted under its lock). */
export async function setTableRowCount(
  q: Queryable,
  sourceId: string,
  tableId: string,
  rows: number,
): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.tables SET row_count = $3 WHERE source_id = $1 AND table_id = $2', [
      sourceId,
      tableId,
      rows,
    ]),
  );
}

/** `dropped` warnings kept per table (the newest). */
const KEPT_DROPPED = 10;

/**
 * A schema change's notes on a table: its `mapping` and `deferred` warnings are replaced by these
 * (they describe the mapping as it is now); `dropped` ones are added after the ones kept, of
 * which the newest few stay. Oldest first.
 */
export async function recordSchemaWarnings(
  q: Queryable,
  sourceId: string,
  tableId: string,
  w: { mapping?: readonly string[]; deferred?: readonly string[]; dropped?: readonly string[] },
  at: Date,
): Promise<void> {
  const cur = await q.query<Pick<TablesRow, 'schema_warnings'>>(
    sql('SELECT schema_warnings FROM airmirror.tables WHERE source_id = $1 AND table_id = $2 FOR UPDATE', [
      sourceId,
      tableId,
    ]),
  );
  if (cur.rowCount === 0) return;
  const stamp = at.toISOString();
  const fresh = (kind: SchemaWarning['kind'], list: readonly string[] = []): SchemaWarning[] =>
    list.map((message) => ({ kind, message, at: stamp }));
  const old = Array.isArray(cur.rows[0].schema_warnings)
    ? (cur.rows[0].schema_warnings as SchemaWarning[])
    : [];
  const dropped = [...old.filter((x) => x.kind === 'dropped'), ...fresh('dropped', w.dropped)].slice(
    -KEPT_DROPPED,
  );
  const next = [...fresh('mapping', w.mapping), ...fresh('deferred', w.deferred), ...dropped];
  await q.query(
    sql(
      `UPDATE airmirror.tables SET schema_warnings = $3::jsonb, updated_at = now()
        WHERE source_id = $1 AND table_id = $2`,
      [sourceId, tableId, JSON.stringify(next)],
    ),
  );
}

/** Tables of a source excluded from the mirror at its creation (POST /sources `tables`). */
export async function setTablesMirrored(
  q: Queryable,
  sourceId: string,
  tableIds: readonly string[],
  mirrored: boolean,
): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables SET mirrored = $3, updated_at = now()
        WHERE source_id = $1 AND table_id = ANY($2::text[])`,
      [sourceId, tableIds, mirrored],
    ),
  );
}
