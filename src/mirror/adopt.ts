import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { BaseMapping } from './types.ts';

/**
 * Tables in `schema` that airmirror built for the same Airtable tables as `mapping`'s, though no
 * stored mapping names them any more: a source deleted without `drop_data` and then created again
 * (a token rotated the hard way). The promote may replace them like its own (src/mirror/ddl.ts
 * promoteSwap) instead of refusing with MIRROR_TABLE_CONFLICT.
 *
 * A table is airmirror's when the catalog still carries the mapping airmirror wrote on it
 * (docs/DESIGN.md "Mirror layout"): its COMMENT names the Airtable table by id, as ddl.ts's
 * tableComment writes it, and so does its `id` column's. Airtable table ids are unique across bases, so a
 * table carrying both for `tbl…` was built from that very table. Anything else — no comment,
 * another table's id, a hand-made table that only borrowed the name — is still refused.
 */
export async function adoptableTables(
  q: Queryable,
  schema: string,
  mapping: BaseMapping,
): Promise<Set<string>> {
  const wanted = new Map(mapping.tables.map((t) => [t.table, t]));
  if (wanted.size === 0) return new Set();
  const r = await q.query<{ relname: string; comment: string | null; id_comment: string | null }>(
    sql(
      `SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment,
              col_description(c.oid, a.attnum) AS id_comment
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'id' AND NOT a.attisdropped
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY($2::text[])`,
      [schema, [...wanted.keys()]],
    ),
  );
  const out = new Set<string>();
  for (const row of r.rows) {
    const t = wanted.get(row.relname)!;
    const tableIdInComment = /^Airtable table ".*" \((tbl[A-Za-z0-9]+)\)$/s.exec(row.comment ?? '')?.[1];
    if (tableIdInComment !== t.tableId) continue;
    if (row.id_comment !== `Airtable record id (${t.tableId})`) continue;
    out.add(row.relname);
  }
  return out;
}
