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

/** Ids of a table's rows the proxy or a webhook wrote (or deleted) since fence value `since`. */
export async function fencedSince(
  q: Queryable,
  sourceId: string,
  tableId: string,
  since: string,
): Promise<string[]> {
  const r = await q.query<{ record_id: string }>(
    sql(
      `SELECT record_id FROM airmirror.row_fence
       WHERE source_id = $1 AND table_id = $2 AND fence > $3::bigint`,
      [sourceId, tableId, since],
    ),
  );
  return r.rows.map((x) => x.record_id);
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

/**
 * The fence stamp of authoritative (proxy/webhook) writes and deletes as two CTEs of a `WITH`
 * list, so the write path stamps in the same statement that writes the rows: every id of the
 * text[] parameter `ids` gets one fresh value from `fence_seq`. The value is taken in a
 * MATERIALIZED CTE of its own, so it is drawn once, however the planner joins it. The `fence_*`
 * names are reserved for these CTEs in statements that include them.
 */
export function stampFenceCtes(params: { sourceId: string; tableId: string; ids: string }): string {
  return `fence_v AS MATERIALIZED (SELECT nextval('airmirror.fence_seq') AS v),
    fence_w AS (
      INSERT INTO airmirror.row_fence (source_id, table_id, record_id, fence)
      SELECT ${params.sourceId}, ${params.tableId}, fence_r.id, fence_v.v
      FROM unnest(${params.ids}::text[]) AS fence_r(id) CROSS JOIN fence_v
      ON CONFLICT (source_id, table_id, record_id) DO UPDATE SET fence = excluded.fence, at = now()
    )`;
}

/** Stamps the fence of `ids` with one fresh value, as a statement of its own. */
export function stampFenceSql(sourceId: string, tableId: string, ids: string[]) {
  return sql(`WITH ${stampFenceCtes({ sourceId: '$1', tableId: '$2', ids: '$3' })} SELECT 1`, [
    sourceId,
    tableId,
    ids,
  ]);
}

/**
 * The highest fence value pruned so far (src/bookkeeping/retention.ts): stamps at or below it may
 * be gone, so "what was fenced since mark" is only known for marks above it.
 */
export async function fenceHorizon(q: Queryable): Promise<string> {
  const r = await q.query<{ v: string }>(
    sql('SELECT coalesce((SELECT pruned_upto FROM airmirror.fence_horizon), 0)::text AS v'),
  );
  return r.rows[0].v;
}
