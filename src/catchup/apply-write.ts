import { sourceByBase } from '../bookkeeping/sources.ts';
import type { Database } from '../db/database.ts';
import { applyDeletes, applyRecords } from '../mirror/apply.ts';
import { takeFence } from '../mirror/fence.ts';
import { loadMapping } from '../mirror/store.ts';
import { UnknownFieldError } from '../mirror/types.ts';
import { fencedAfter, saveCatchupItems } from './store.ts';
import type { CatchupItem, CatchupWrite } from './types.ts';

/**
 * Clocks disagree (the Worker that saw Airtable's answer, the Postgres that stamps the fence): a
 * row written through the mirror up to this long before the queued answer arrived is treated as
 * possibly newer, and re-fetched rather than overwritten.
 */
export const CLOCK_SKEW_MS = 5_000;

export type CaughtUp = 'applied' | 'not-mirrored' | { refetch: number };

/**
 * Applies a write Airtable accepted while the mirror could not (a Worker's, queued with its
 * records: invariant 5) through the single write path, as the proxy would have.
 *
 * Time has passed since Airtable answered, and the mirror may have newer versions of some of these
 * rows: a row the proxy or a webhook wrote since the answer (give or take CLOCK_SKEW_MS) is left
 * alone and its id queued for the syncer's re-fetch (src/catchup/drain.ts), which gets the
 * current truth; so is every record when the base's mirror is not built yet or the write does
 * not fit its layout. A fence taken first keeps any write landing meanwhile from being rolled
 * back, and the rows written are stamped, as a proxy write is, so no older sweep page rolls them
 * back either.
 */
export async function applyCaughtUpWrite(db: Database, w: CatchupWrite): Promise<CaughtUp> {
  const source = await sourceByBase(db, w.baseId);
  if (!source) return 'not-mirrored';
  const ids = [...w.records.map((r) => r.id), ...w.deletedIds];
  const refetch = async (which: string[]) => {
    if (which.length === 0) return;
    const queuedAt = w.answeredAt;
    const deleted = new Set(w.deletedIds);
    const items: CatchupItem[] = which.map((recordId) => ({
      baseId: w.baseId,
      tableRef: w.tableRef,
      recordId,
      op: deleted.has(recordId) ? 'delete' : 'upsert',
      queuedAt,
    }));
    await db.tx((tx) => saveCatchupItems(tx, items));
  };

  const mapping = await loadMapping(db, source.id);
  const table =
    mapping?.tables.find((t) => t.tableId === w.tableRef) ??
    mapping?.tables.find((t) => t.tableName === w.tableRef);
  if (!table) {
    await refetch(ids);
    return { refetch: ids.length };
  }
  const fence = await takeFence(db);
  const since = new Date(Date.parse(w.answeredAt) - CLOCK_SKEW_MS);
  const newer = new Set(
    (await db.query<{ record_id: string }>(fencedAfter(source.id, table.tableId, ids, since))).rows.map(
      (r) => r.record_id,
    ),
  );
  const opts = {
    origin: 'proxy' as const,
    sourceId: source.id,
    keyedBy: w.keyedBy,
    fetchedBefore: fence,
    stampFence: true,
  };
  const records = w.records.filter((r) => !newer.has(r.id));
  const deletes = w.deletedIds.filter((id) => !newer.has(id));
  try {
    if (records.length > 0) await applyRecords(db, table, records, opts);
  } catch (err) {
    if (!(err instanceof UnknownFieldError)) throw err;
    // A field the mapping does not know yet: the syncer's re-fetch applies it after its refresh.
    for (const r of records) newer.add(r.id);
  }
  if (deletes.length > 0) await applyDeletes(db, table, deletes, opts);
  await refetch([...newer]);
  return newer.size === 0 ? 'applied' : { refetch: newer.size };
}
