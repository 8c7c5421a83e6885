import type { AirtableRecord } from '../airtable/types.ts';
import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { setFillPending, tableSelection } from '../bookkeeping/schema-state.ts';
import { applyDeletes, applyRecords } from '../mirror/apply.ts';
import { takeFence } from '../mirror/fence.ts';
import { requestedFields } from '../mirror/mapping.ts';
import { loadMapping } from '../mirror/store.ts';
import type { BaseMapping } from '../mirror/types.ts';
import { clearNeedsCatchup, countCatchup, deleteCatchup, selectCatchup, type CatchupRow } from './store.ts';

/**
 * Fetches the records with these ids that still exist in the table, keyed by field id
 * (`returnFieldsByFieldId`); ids not returned are taken as deleted. The syncer passes its
 * client's `getRecordsByIds` with the source's token and the shared budget.
 */
export type FetchRecordsByIds = (q: {
  sourceId: string;
  baseId: string;
  tableId: string;
  recordIds: string[];
  /** The mirrored fields' ids when the operator excluded some (never requested); else all. */
  fields?: string[];
}) => Promise<AirtableRecord[]>;

export interface DrainOptions {
  db: Database;
  fetchRecords: FetchRecordsByIds;
  /** Only this source's queue. */
  sourceId?: string;
  /** Rows read per pass (default 1,000); call again while `remaining` > 0. */
  limit?: number;
  /** Ids per fetch (default 50). */
  chunk?: number;
  log?: Pick<Logger, 'warn'>;
}

export interface DrainResult {
  /** Records re-fetched and applied. */
  applied: number;
  /** Queued ids Airtable no longer has, deleted from the mirror. */
  deleted: number;
  /** Ids left for a later pass (unknown table, fetch failure, or beyond `limit`). */
  remaining: number;
}

/**
 * Re-fetches the records whose proxy writes the mirror missed (invariant 5) and applies them
 * through the single write path. A fence taken before each fetch keeps a newer proxy write from
 * being rolled back by this fetch, and the applied rows are stamped so no older sweep page can
 * roll them back either. A failed group stays queued; other groups go on.
 */
export async function drainCatchup(opts: DrainOptions): Promise<DrainResult> {
  const { db } = opts;
  const chunk = opts.chunk ?? 50;
  const rows = (await db.query<CatchupRow>(selectCatchup(opts.limit ?? 1_000, opts.sourceId))).rows;
  const groups = new Map<string, CatchupRow[]>();
  for (const r of rows) {
    const key = JSON.stringify([r.source_id, r.table_ref]);
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  const result: DrainResult = { applied: 0, deleted: 0, remaining: 0 };
  const mappings = new Map<string, BaseMapping | undefined>();
  const paused = new Map<string, ReadonlySet<string>>();
  const sources = new Set<string>();
  const forget = (sourceId: string, tableRef: string, rows: CatchupRow[]) =>
    db.query(
      deleteCatchup(
        sourceId,
        tableRef,
        rows.map((r) => r.record_id),
        rows.map((r) => r.queued_at),
      ),
    );

  for (const group of groups.values()) {
    const { source_id: sourceId, base_id: baseId, table_ref: tableRef } = group[0];
    sources.add(sourceId);
    if (!mappings.has(sourceId)) {
      mappings.set(sourceId, await loadMapping(db, sourceId));
      paused.set(sourceId, (await tableSelection(db, sourceId)).paused);
    }
    const mapping = mappings.get(sourceId);
    const table =
      mapping?.tables.find((t) => t.tableId === tableRef) ??
      mapping?.tables.find((t) => t.tableName === tableRef);
    if (!table && mapping?.excludedTables?.some((t) => t.tableId === tableRef || t.tableName === tableRef)) {
      // Excluded from the mirror by the operator: nothing is owed.
      await forget(sourceId, tableRef, group);
      continue;
    }
    if (table && paused.get(sourceId)?.has(table.tableId)) {
      // A paused table is written by nothing: it owes a full listing when it resumes instead.
      await setFillPending(db, sourceId, [table.tableId], true);
      await forget(sourceId, tableRef, group);
      continue;
    }
    if (!table) {
      // No mapping at all: the base's first build is running (writes during it are queued on
      // purpose) — expected, not worth a line every pass. A mapping without the table is not.
      if (mapping) {
        opts.log?.warn(
          { sourceId, count: group.length },
          'catch-up: table not in the mirror mapping yet; left queued',
        );
      }
      continue;
    }
    for (let i = 0; i < group.length; i += chunk) {
      const part = group.slice(i, i + chunk);
      const ids = part.map((r) => r.record_id);
      try {
        const fence = await takeFence(db);
        const found = await opts.fetchRecords({
          sourceId,
          baseId,
          tableId: table.tableId,
          recordIds: ids,
          fields: requestedFields(table),
        });
        const foundIds = new Set(found.map((r) => r.id));
        const gone = ids.filter((id) => !foundIds.has(id));
        const applyOpts = {
          origin: 'proxy' as const,
          sourceId,
          keyedBy: 'id' as const,
          fetchedBefore: fence,
          stampFence: true,
        };
        if (found.length > 0) await applyRecords(db, table, found, applyOpts);
        if (gone.length > 0) await applyDeletes(db, table, gone, applyOpts);
        await forget(sourceId, tableRef, part);
        result.applied += found.length;
        result.deleted += gone.length;
      } catch (err) {
        opts.log?.warn(
          { sourceId, count: ids.length, err: err instanceof Error ? err.message : String(err) },
          'catch-up: re-fetch failed; left queued',
        );
      }
    }
  }
  for (const sourceId of sources) await db.query(clearNeedsCatchup(sourceId));
  result.remaining = (await db.query<{ n: number }>(countCatchup(opts.sourceId))).rows[0].n;
  return result;
}
