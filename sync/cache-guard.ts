/**
 * What keeps the sweep's hash cache honest (sweep.ts): a remembered hash vouches for a row only
 * as long as nobody else changed the row and its columns keep their types.
 */
import { fencedSince, fenceHorizon, takeFence } from '../src/mirror/index.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import type { RecordHashCache } from './hash-cache.ts';
import type { TableSyncContext } from './strategy.ts';

/**
 * Other writers (proxy, webhook) stamp the row fence when they change a mirror row. A record the
 * cache remembers may since have been changed in the mirror by them — and if Airtable then went
 * back to the remembered version, a cache hit would leave the mirror wrong. So before consulting
 * the cache, forget every record fenced since the previous look (the mark is a fence taken just
 * before that look; anything fenced later is caught next time).
 */
export async function forgetForeignWrites(ctx: TableSyncContext): Promise<void> {
  const { hashCache, table } = ctx;
  const mark = hashCache.fenceMark(table.tableId);
  const next = await takeFence(ctx.db);
  // Stamps older than the pruning horizon are gone (src/bookkeeping/retention.ts): a mark below
  // it cannot learn what changed since, so the table's hashes are forgotten instead.
  if (mark === undefined || BigInt(mark) < BigInt(await fenceHorizon(ctx.db))) {
    hashCache.forgetTable(table.tableId);
  } else {
    for (const id of await fencedSince(ctx.db, ctx.source.id, table.tableId, mark)) {
      hashCache.forget(table.tableId, id);
    }
  }
  hashCache.setFenceMark(table.tableId, next);
}

/** Per cache, per table: each field's column type as the cache last learned rows of it. */
const learnedTypes = new WeakMap<RecordHashCache, Map<string, Map<string, string>>>();

/**
 * A remembered hash vouches for a row as converted with the column types of then. When a field's
 * column type changed since (a schema change, made in this process or another), a record whose
 * JSON is the same may still convert differently (a timestamp cast to text in place is not the
 * text Airtable's value converts to): the table's hashes are forgotten. Added or dropped fields
 * keep them — a record without the new field has the same JSON and the column's empty value.
 */
export function forgetRetypedTable(hashCache: RecordHashCache, table: TableMapping): void {
  let byTable = learnedTypes.get(hashCache);
  if (!byTable) learnedTypes.set(hashCache, (byTable = new Map()));
  const now = new Map(table.columns.map((c) => [c.fieldId, `${c.airtableType}\0${c.pgType}`]));
  const then = byTable.get(table.tableId);
  if (then && [...now].some(([id, type]) => then.has(id) && then.get(id) !== type)) {
    hashCache.forgetTable(table.tableId);
  }
  byTable.set(table.tableId, now);
}
