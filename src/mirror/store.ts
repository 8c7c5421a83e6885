import type { AirtableField } from '../airtable/types.ts';
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
  await q.query(
    sql('UPDATE airmirror.sources SET schema_hash = $2, updated_at = now() WHERE id = $1', [
      sourceId,
      mapping.hash,
    ]),
  );
}

/** The mapping last saved for `sourceId`, or undefined when there is none. */
export async function loadMapping(q: Queryable, sourceId: string): Promise<BaseMapping | undefined> {
  const src = await q.query<{ schema_name: string; schema_hash: string | null }>(
    sql('SELECT schema_name, schema_hash FROM airmirror.sources WHERE id = $1', [sourceId]),
  );
  if (src.rowCount === 0 || src.rows[0].schema_hash === null) return undefined;
  const schema = src.rows[0].schema_name;
  const tableRows = await q.query<{ table_id: string; table_name: string; mirror_table: string }>(
    sql(
      `SELECT table_id, table_name, mirror_table FROM airmirror.tables
       WHERE source_id = $1 AND vanished_at IS NULL
       ORDER BY mirror_position NULLS LAST, table_id`,
      [sourceId],
    ),
  );
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
    tableRows.rows.map((r) => [
      r.table_id,
      { tableId: r.table_id, tableName: r.table_name, schema, table: r.mirror_table, columns: [] },
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
  return { schema, hash: src.rows[0].schema_hash, tables: [...tables.values()] };
}
