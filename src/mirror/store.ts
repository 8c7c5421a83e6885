import type { AirtableField } from '../airtable/types.ts';
import { loadSource, setSchemaHash } from '../bookkeeping/sources.ts';
import { excludedTableRows, saveMappedTables, upsertMappedTables } from '../bookkeeping/table-config.ts';
import { mirroredTables } from '../bookkeeping/tables.ts';
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { BaseMapping, TableMapping } from './types.ts';

/**
 * Records `mapping` as the source's current mirror layout: `airmirror.tables` rows (names and
 * mirror table only — sync configuration of existing rows is left alone; new rows get the
 * defaults), the column map in `airmirror.columns` (excluded fields too, without a column), and
 * `sources.schema_hash`. Tables that are no longer in the base get `vanished_at`; tables that are
 * (mirrored or excluded) get it cleared.
 */
export async function saveMapping(q: Queryable, sourceId: string, mapping: BaseMapping): Promise<void> {
  await saveMappedTables(
    q,
    sourceId,
    mapping.tables,
    (mapping.excludedTables ?? []).map((t) => t.tableId),
  );
  await q.query(sql('DELETE FROM airmirror.columns WHERE source_id = $1', [sourceId]));
  await insertColumns(q, sourceId, mapping.tables);
  await setSchemaHash(q, sourceId, mapping.hash);
}

/**
 * Records one table's layout (its row's names and position, its columns) and leaves the others
 * alone: a change made in place, table by table. `hash` marks the source's layout as being
 * changed (its readers, e.g. the proxy's cached mapping, reload).
 */
export async function saveTableMapping(
  q: Queryable,
  sourceId: string,
  table: TableMapping,
  position: number,
  hash: string,
): Promise<void> {
  await upsertMappedTables(q, sourceId, [table], [position]);
  await q.query(
    sql('DELETE FROM airmirror.columns WHERE source_id = $1 AND table_id = $2', [sourceId, table.tableId]),
  );
  await insertColumns(q, sourceId, [table]);
  await setSchemaHash(q, sourceId, hash);
}

/** A table's columns forgotten (it was dropped from the mirror). */
export async function forgetTableColumns(q: Queryable, sourceId: string, tableId: string): Promise<void> {
  await q.query(
    sql('DELETE FROM airmirror.columns WHERE source_id = $1 AND table_id = $2', [sourceId, tableId]),
  );
}

async function insertColumns(q: Queryable, sourceId: string, tables: readonly TableMapping[]): Promise<void> {
  const cols = tables.flatMap((t) => [
    ...t.columns.map((c, i) => ({
      t,
      id: c.fieldId,
      name: c.fieldName,
      column: c.column as string | null,
      type: c.airtableType,
      pg: c.pgType,
      i,
      field: c.field,
    })),
    ...(t.excludedFields ?? []).map((f, i) => ({
      t,
      id: f.fieldId,
      name: f.fieldName,
      column: null,
      type: '',
      pg: '',
      i: t.columns.length + i,
      field: null,
    })),
  ]);
  if (cols.length === 0) return;
  await q.query(
    sql(
      `INSERT INTO airmirror.columns
         (source_id, table_id, field_id, field_name, column_name, airtable_type, pg_type, position, field, mirrored)
       SELECT $1, t.table_id, t.field_id, t.field_name, t.column_name, t.airtable_type, t.pg_type, t.position,
              t.field, t.column_name IS NOT NULL
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::jsonb[])
         AS t(table_id, field_id, field_name, column_name, airtable_type, pg_type, position, field)`,
      [
        sourceId,
        cols.map((x) => x.t.tableId),
        cols.map((x) => x.id),
        cols.map((x) => x.name),
        cols.map((x) => x.column),
        cols.map((x) => x.type),
        cols.map((x) => x.pg),
        cols.map((x) => x.i),
        cols.map((x) => (x.field === null ? null : JSON.stringify(x.field))),
      ],
    ),
  );
}

/** The mapping last saved for `sourceId`, or undefined when there is none. */
export async function loadMapping(q: Queryable, sourceId: string): Promise<BaseMapping | undefined> {
  const src = await loadSource(q, sourceId);
  if (!src || src.schemaHash === null) return undefined;
  const schema = src.schemaName;
  const tableRows = await mirroredTables(q, sourceId);
  const colRows = await q.query<{
    table_id: string;
    field_id: string;
    field_name: string;
    column_name: string | null;
    airtable_type: string;
    pg_type: string;
    field: AirtableField | null;
  }>(
    sql(
      `SELECT table_id, field_id, field_name, column_name, airtable_type, pg_type, field
       FROM airmirror.columns WHERE source_id = $1 ORDER BY table_id, position`,
      [sourceId],
    ),
  );
  const tables = new Map<string, TableMapping>(
    tableRows.map((r) => [
      r.tableId,
      { tableId: r.tableId, tableName: r.tableName, schema, table: r.mirrorTable, columns: [] },
    ]),
  );
  for (const r of colRows.rows) {
    const t = tables.get(r.table_id);
    if (!t) continue;
    if (r.column_name === null) {
      (t.excludedFields ??= []).push({ fieldId: r.field_id, fieldName: r.field_name });
      continue;
    }
    t.columns.push({
      fieldId: r.field_id,
      fieldName: r.field_name,
      column: r.column_name,
      airtableType: r.airtable_type,
      pgType: r.pg_type,
      field: r.field ?? { id: r.field_id, name: r.field_name, type: r.airtable_type },
    });
  }
  const excluded = await excludedTableRows(q, sourceId);
  return {
    schema,
    hash: src.schemaHash,
    tables: [...tables.values()],
    ...(excluded.length > 0 ? { excludedTables: excluded } : {}),
  };
}

/** A table's mirror columns by Airtable field id, as last saved. */
export async function columnNames(
  q: Queryable,
  sourceId: string,
  tableId: string,
): Promise<Map<string, string>> {
  const r = await q.query<{ field_id: string; column_name: string }>(
    sql(
      `SELECT field_id, column_name FROM airmirror.columns
        WHERE source_id = $1 AND table_id = $2 AND column_name IS NOT NULL`,
      [sourceId, tableId],
    ),
  );
  return new Map(r.rows.map((x) => [x.field_id, x.column_name]));
}

/** Every field of a table the mirror knows (mirrored or excluded): id, name and column (null: excluded). */
export async function knownFields(
  q: Queryable,
  sourceId: string,
  tableId: string,
): Promise<{ fieldId: string; fieldName: string; column: string | null }[]> {
  const r = await q.query<{ field_id: string; field_name: string; column_name: string | null }>(
    sql(
      `SELECT field_id, field_name, column_name FROM airmirror.columns
        WHERE source_id = $1 AND table_id = $2 ORDER BY position`,
      [sourceId, tableId],
    ),
  );
  return r.rows.map((x) => ({ fieldId: x.field_id, fieldName: x.field_name, column: x.column_name }));
}
