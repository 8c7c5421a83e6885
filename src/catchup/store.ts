import { markNeedsCatchup } from '../bookkeeping/table-config.ts';
import type { Queryable } from '../db/database.ts';
import { sql, type Sql } from '../db/sql.ts';
import type { CatchupItem } from './types.ts';

/**
 * Queues ids of one (base, table) for catch-up. Resolves the source by base id (nothing is
 * inserted for a base that is not mirrored) and the table ref to the table id when the name is
 * known; a later failure for the same record replaces the earlier op.
 */
export function insertCatchup(baseId: string, tableRef: string, items: CatchupItem[]): Sql {
  return sql(
    `INSERT INTO airmirror.catchup (source_id, table_ref, record_id, op, queued_at)
     SELECT s.id, COALESCE(t.table_id, $2), r.record_id, r.op, r.queued_at
       FROM airmirror.sources s
       CROSS JOIN unnest($3::text[], $4::text[], $5::timestamptz[]) AS r(record_id, op, queued_at)
       LEFT JOIN LATERAL (
         SELECT table_id FROM airmirror.tables
          WHERE source_id = s.id AND (table_id = $2 OR table_name = $2)
          ORDER BY (table_id = $2) DESC LIMIT 1) t ON true
      WHERE s.base_id = $1
     ON CONFLICT (source_id, table_ref, record_id)
       DO UPDATE SET op = excluded.op, queued_at = excluded.queued_at`,
    [baseId, tableRef, items.map((i) => i.recordId), items.map((i) => i.op), items.map((i) => i.queuedAt)],
  );
}

/** The `needs_catchup` flag `status` shows is a column of airmirror.tables: src/bookkeeping writes it. */
export { markNeedsCatchup, clearNeedsCatchup } from '../bookkeeping/table-config.ts';

/**
 * Queues items (of any tables) and flags their tables, on one connection: run it in a transaction
 * so the ids and the flag land together. Per record the latest op wins (one INSERT may not touch
 * a row twice).
 */
export async function saveCatchupItems(q: Queryable, items: CatchupItem[]): Promise<void> {
  const groups = new Map<string, Map<string, CatchupItem>>();
  for (const item of items) {
    const key = JSON.stringify([item.baseId, item.tableRef]);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = new Map()));
    g.set(item.recordId, item);
  }
  for (const g of groups.values()) {
    const group = [...g.values()];
    await q.query(insertCatchup(group[0].baseId, group[0].tableRef, group));
    await q.query(markNeedsCatchup(group[0].baseId, group[0].tableRef));
  }
}

export interface CatchupRow {
  source_id: string;
  base_id: string;
  table_ref: string;
  record_id: string;
  op: 'upsert' | 'delete';
  queued_at: Date;
}

/** The oldest queued ids, optionally of one source. */
export function selectCatchup(limit: number, sourceId?: string): Sql {
  return sql(
    `SELECT c.source_id, s.base_id, c.table_ref, c.record_id, c.op, c.queued_at
       FROM airmirror.catchup c JOIN airmirror.sources s ON s.id = c.source_id
      WHERE ($1::text IS NULL OR c.source_id = $1)
      ORDER BY c.queued_at, c.record_id
      LIMIT $2`,
    [sourceId ?? null, limit],
  );
}

/** Removes drained ids, but not one queued again after it was read (its newer write is still owed). */
export function deleteCatchup(sourceId: string, tableRef: string, recordIds: string[], readAt: Date[]): Sql {
  return sql(
    `DELETE FROM airmirror.catchup c
      USING unnest($3::text[], $4::timestamptz[]) AS d(record_id, queued_at)
      WHERE c.source_id = $1 AND c.table_ref = $2 AND c.record_id = d.record_id AND c.queued_at <= d.queued_at`,
    [sourceId, tableRef, recordIds, readAt],
  );
}

export function countCatchup(sourceId?: string): Sql {
  return sql(`SELECT count(*)::int AS n FROM airmirror.catchup WHERE ($1::text IS NULL OR source_id = $1)`, [
    sourceId ?? null,
  ]);
}

/**
 * Of `recordIds`, those the proxy or a webhook wrote after `since` (the row fence's stamp time):
 * a queued write answered before that must not overwrite them.
 */
export function fencedAfter(sourceId: string, tableId: string, recordIds: string[], since: Date): Sql {
  return sql(
    `SELECT record_id FROM airmirror.row_fence
      WHERE source_id = $1 AND table_id = $2 AND record_id = ANY($3) AND at > $4`,
    [sourceId, tableId, recordIds, since],
  );
}

/** The sources with queued ids (each drained by its base's owner). */
export function catchupSources(): Sql {
  return sql('SELECT DISTINCT source_id FROM airmirror.catchup ORDER BY source_id');
}
