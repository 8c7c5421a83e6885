import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/**
 * A fence value: take it before fetching a page (or before the first page of a listing) and pass
 * it as `fetchedBefore` / `listingFence`. Returned as a string so bigint precision survives.
 */
export async function takeFence(db: Queryable): Promise<string> {
  const r = await db.query<{ fence: string }>(sql(`SELECT nextval('airmirror.fence_seq')::text AS fence`));
  return r.rows[0].fence;
}

/** Forget fences stamped before `olderThan`: no page fetched that long ago is still in flight. */
export async function pruneFence(
  db: Queryable,
  sourceId: string,
  tableId: string,
  olderThan: Date,
): Promise<number> {
  const r = await db.query(
    sql('DELETE FROM airmirror.row_fence WHERE source_id = $1 AND table_id = $2 AND at < $3', [
      sourceId,
      tableId,
      olderThan,
    ]),
  );
  return r.rowCount ?? 0;
}

/** Stamps the fence of `ids` with one fresh value (authoritative proxy/webhook writes and deletes). */
export function stampFenceSql(sourceId: string, tableId: string, ids: string[]) {
  return sql(
    `INSERT INTO airmirror.row_fence (source_id, table_id, record_id, fence)
     SELECT $1, $2, r, f.v FROM unnest($3::text[]) AS r, (SELECT nextval('airmirror.fence_seq') AS v) AS f
     ON CONFLICT (source_id, table_id, record_id) DO UPDATE SET fence = excluded.fence, at = now()`,
    [sourceId, tableId, ids],
  );
}
