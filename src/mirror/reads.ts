/**
 * Reads of mirror tables outside the write path: row counts, the newest incremental time, the
 * rows linking to changed records (webhooks), and verify's record-by-record comparison.
 */
import type { Queryable } from '../db/database.ts';
import { quoteIdent, quoteQualified } from '../db/quote.ts';
import { sql } from '../db/sql.ts';
import { rowsJson } from './statements.ts';
import type { ColumnMapping, ConvertedRecord, TableMapping } from './types.ts';

/** Row count of a mirror table (after a run, for airmirror.tables.row_count). */
export async function countRows(
  q: Queryable,
  table: Pick<TableMapping, 'schema' | 'table'>,
): Promise<number> {
  const r = await q.query<{ n: string }>(
    sql(`SELECT count(*)::text AS n FROM ${quoteQualified(table.schema, table.table)}`),
  );
  return Number(r.rows[0].n);
}

/** The newest time in a timestamp column of a mirror table, an empty cell counting as created_time. */
export async function newestTime(
  q: Queryable,
  table: Pick<TableMapping, 'schema' | 'table'>,
  column: Pick<ColumnMapping, 'column'>,
): Promise<Date | null> {
  const r = await q.query<{ hwm: Date | null }>(
    sql(
      `SELECT max(COALESCE(${quoteIdent(column.column)}::timestamptz, created_time)) AS hwm
         FROM ${quoteQualified(table.schema, table.table)}`,
    ),
  );
  return r.rows[0]?.hwm ?? null;
}

/** The largest value of an integer column (an autoNumber cursor, sync/incremental.ts); null when empty. */
export async function newestInteger(
  q: Queryable,
  table: Pick<TableMapping, 'schema' | 'table'>,
  column: Pick<ColumnMapping, 'column'>,
): Promise<number | null> {
  const r = await q.query<{ hwm: string | number | null }>(
    sql(
      `SELECT max(${quoteIdent(column.column)})::bigint AS hwm FROM ${quoteQualified(table.schema, table.table)}`,
    ),
  );
  const v = r.rows[0]?.hwm;
  return v === null || v === undefined ? null : Number(v);
}

/** Ids of rows of `table` whose link column holds any of `ids`. */
export async function rowsLinkingTo(
  q: Queryable,
  table: Pick<TableMapping, 'schema' | 'table'>,
  linkColumn: Pick<ColumnMapping, 'column'>,
  ids: string[],
): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    sql(
      `SELECT id FROM ${quoteQualified(table.schema, table.table)} WHERE ${quoteIdent(linkColumn.column)} && $1::text[]`,
      [ids],
    ),
  );
  return r.rows.map((x) => x.id);
}

/** created_time (ISO) of the rows of `table` among `ids`: a webhook payload's changed record lacks it. */
export async function createdTimesOf(
  q: Queryable,
  table: Pick<TableMapping, 'schema' | 'table'>,
  ids: string[],
): Promise<Map<string, string>> {
  const r = await q.query<{ id: string; t: Date }>(
    sql(
      `SELECT id, created_time AS t FROM ${quoteQualified(table.schema, table.table)} WHERE id = ANY($1::text[])`,
      [ids],
    ),
  );
  return new Map(r.rows.map((x) => [x.id, x.t.toISOString()]));
}

/** A converted record the mirror does not hold (missing) or holds otherwise (`diff`: 1-based columns). */
export interface RowDifference {
  id: string;
  missing: boolean;
  /** Differing columns, 1-based over [created_time, …the table's columns]; null when missing. */
  diff: number[] | null;
}

/**
 * Compares converted records with the mirror rows of the same ids in Postgres, with the mirror's
 * own column types (`IS DISTINCT FROM` per column): only records missing or different come back.
 */
export async function compareWithMirror(
  q: Queryable,
  table: TableMapping,
  records: ConvertedRecord[],
): Promise<RowDifference[]> {
  const defs = ['i text', 't timestamptz', ...table.columns.map((c, k) => `c${k} ${c.pgType}`)].join(', ');
  const mirrorCols = ['created_time', ...table.columns.map((c) => quoteIdent(c.column))];
  const srcCols = ['t', ...table.columns.map((_, k) => `c${k}`)];
  const diffs = mirrorCols.map(
    (c, k) => `CASE WHEN m.${c} IS DISTINCT FROM s.${srcCols[k]} THEN ${k + 1} END`,
  );
  const r = await q.query<RowDifference>(
    sql(
      `WITH s AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(${defs}))
       SELECT s.i AS id, m.id IS NULL AS missing,
              CASE WHEN m.id IS NOT NULL THEN array_remove(ARRAY[${diffs.join(', ')}], NULL) END AS diff
       FROM s LEFT JOIN ${quoteQualified(table.schema, table.table)} m ON m.id = s.i
       WHERE m.id IS NULL OR (${mirrorCols.map((c) => `m.${c}`).join(', ')}) IS DISTINCT FROM (${srcCols
         .map((c) => `s.${c}`)
         .join(', ')})`,
      [rowsJson(table, records)],
    ),
  );
  return r.rows;
}

/**
 * The mirror rows whose id is not in `seenIds`: how many, the first `keep` of them by id, and how
 * many rows the table has.
 */
export async function unseenRows(
  q: Queryable,
  table: Pick<TableMapping, 'schema' | 'table'>,
  seenIds: string[],
  keep: number,
): Promise<{ count: number; examples: string[]; total: number }> {
  const r = await q.query<{ n: string; ids: string[] | null; total: string }>(
    sql(
      `SELECT count(*) FILTER (WHERE s.id IS NULL)::text AS n,
              (array_agg(m.id ORDER BY m.id) FILTER (WHERE s.id IS NULL))[1:$2::int] AS ids,
              count(*)::text AS total
       FROM ${quoteQualified(table.schema, table.table)} m LEFT JOIN unnest($1::text[]) AS s(id) ON s.id = m.id`,
      [seenIds, keep],
    ),
  );
  return { count: Number(r.rows[0].n), examples: r.rows[0].ids ?? [], total: Number(r.rows[0].total) };
}
