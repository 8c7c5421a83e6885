import type { AirtableField } from '../airtable/types.ts';
import { loadSource, setSchemaHash } from '../bookkeeping/sources.ts';
import { saveMappedTables } from '../bookkeeping/table-config.ts';
import { mirroredTables } from '../bookkeeping/tables.ts';
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { BaseMapping, TableMapping } from './types.ts';

/**
 * Records `mapping` as the source's current mirror layout: `airmirror.tables` rows (names and
 * mirror table only — sync configuration of existing rows is left alone; new rows get the
 * defaults), the column map in `airmirror.columns`, and `sources.schema_hash`. Tables that are
 * no longer in the base get `vanished_at`; tables that are get it cleared.
 */
export async function saveMapping(q: Queryable, sourceId: string, mapping: BaseMapping): Promise<void> {
  const tables = mapping.tables;
  await saveMappedTables(q, sourceId, tables);
  await q.query(sql('DELETE FROM airmirror.columns WHERE source_id = $1', [sourceId]));
  const cols = tables.flatMap((t) => t.columns.map((c, i) => ({ t, c, i })));
  if (cols.length > 0) {
    await q.query(
      sql(
        `INSERT INTO airmirror.columns
           (source_id, table_id, field_id, field_name, column_name, airtable_type, pg_type, position, field)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::jsonb[])`,
        [
          sourceId,
          cols.map((x) => x.t.tableId),
          cols.map((x) => x.c.fieldId),
          cols.map((x) => x.c.fieldName),
          cols.map((x) => x.c.column),
          cols.map((x) => x.c.airtableType),
          cols.map((x) => x.c.pgType),
          cols.map((x) => x.i),
          cols.map((x) => JSON.stringify(x.c.field)),
        ],
      ),
    );
  }
  await setSchemaHash(q, sourceId, mapping.hash);
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
    column_name: string;
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
    tables.get(r.table_id)?.columns.push({
      fieldId: r.field_id,
      fieldName: r.field_name,
      column: r.column_name,
      airtableType: r.airtable_type,
      pgType: r.pg_type,
      field: r.field ?? { id: r.field_id, name: r.field_name, type: r.airtable_type },
    });
  }
  return { schema, hash: src.schemaHash, tables: [...tables.values()] };
}

/** A table's mirror columns by Airtable field id, as last saved. */
export async function columnNames(
  q: Queryable,
  sourceId: string,
  tableId: string,
): Promise<Map<string, string>> {
  const r = await q.query<{ field_id: string; column_name: string }>(
    sql('SELECT field_id, column_name FROM airmirror.columns WHERE source_id = $1 AND table_id = $2', [
      sourceId,
      tableId,
    ]),
  );
  return new Map(r.rows.map((x) => [x.field_id, x.column_name]));
}
