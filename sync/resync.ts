import { newCounters } from '../src/bookkeeping/runs.ts';
import { tableSelection } from '../src/bookkeeping/schema-state.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import { findTable, type Table } from '../src/bookkeeping/tables.ts';
import { loadMapping } from '../src/mirror/index.ts';
import { refillTables } from './rebuild.ts';
import type { RwLock } from './rwlock.ts';
import type { SyncClient } from './strategy.ts';
import { failTables, runTable, skipped } from './table-run.ts';
import type { SyncerEnv, TableSyncResult } from './types.ts';

/** Sync types whose run after the refill adds nothing: the refill's listing was their full run. */
const REFILL_IS_THE_RUN = new Set(['full_refresh', 'webhook']);

/**
 * A resync (`POST /api/schemas/{id}/resync`), PostHog's "wipe and re-import from scratch": the
 * tables are built fresh in `<schema>_swap` from a complete listing and swapped in at once by a
 * refill (rebuild.ts refillTables, the same path a schema change takes), so rows a wrong
 * configuration left behind go, readers never see a table empty or half-filled, and what readers
 * built on the table is carried over. Receivers get an event for each row the re-import changed.
 * The layout is the one the mirror has; a schema change Airtable made meanwhile is applied by the
 * next sync's schema step, as always. Under the source's write lock. Then a sync type with state
 * of its own (incremental's mark, append's history) runs once in full, which sets that state from
 * the fresh table — the caller has marked the table `resync_required` so append starts a new
 * history.
 */
export async function resyncTables(
  env: SyncerEnv,
  deps: { lock: RwLock; source: Source; client: SyncClient; rows: Table[]; signal: AbortSignal },
): Promise<TableSyncResult[]> {
  const { db } = env;
  const { source, client, rows, signal } = deps;
  const refilled = await deps.lock.write(async () => {
    const live = await loadMapping(db, source.id);
    if (!live) return undefined;
    const selection = await tableSelection(db, source.id);
    const wanted = new Set(rows.map((r) => r.tableId));
    return refillTables(env, {
      source,
      client,
      next: live,
      tableIds: live.tables.filter((t) => wanted.has(t.tableId)).map((t) => t.tableId),
      live: new Map(live.tables.filter((t) => wanted.has(t.tableId)).map((t) => [t.tableId, t])),
      whole: false,
      hash: live.hash,
      events: true,
      paused: selection.paused,
      signal,
      counters: newCounters(),
    });
  });
  if (!refilled) return failTables(env, source, rows, 'the base has no mirror tables yet');
  const results: TableSyncResult[] = [];
  for (const row of rows) {
    const fresh = refilled.results.get(row.tableId);
    if (!fresh) {
      results.push(skipped(source, row, 'not in the mirror (excluded, paused or gone from the base)'));
      continue;
    }
    if (fresh.status !== 'Completed' || REFILL_IS_THE_RUN.has(row.syncType)) {
      results.push(fresh);
      continue;
    }
    results.push(
      await deps.lock.read(async () => {
        const now = (await findTable(db, source.id, row.tableId)) ?? row;
        const table = (await loadMapping(db, source.id))?.tables.find((t) => t.tableId === row.tableId);
        if (!table) return skipped(source, now, 'not in the mirror mapping');
        return runTable(env, source, client, table, now, { full: true, signal });
      }),
    );
  }
  return results;
}
