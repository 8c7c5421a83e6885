import type { BaseSchema } from '../src/airtable/types.ts';
import { newCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import { findTable, type Table } from '../src/bookkeeping/tables.ts';
import { loadMapping, schemaHash } from '../src/mirror/index.ts';
import { oneLine } from './one-line.ts';
import { rebuildBase } from './rebuild.ts';
import type { RwLock } from './rwlock.ts';
import type { SyncClient } from './strategy.ts';
import { failTables, runTable, skipped } from './table-run.ts';
import type { SyncerEnv, TableSyncResult } from './types.ts';

/** Sync types whose run after the rebuild adds nothing: the rebuild's listing was their full run. */
const REBUILD_IS_THE_RUN = new Set(['full_refresh', 'webhook']);

/**
 * A resync (`POST /api/schemas/{id}/resync`), PostHog's "wipe and re-import from scratch": the
 * tables are built fresh in `<schema>_swap` from a complete listing and swapped in at once by the
 * rebuild (rebuild.ts, `onlyTables`), so rows a wrong configuration left behind go and readers
 * never see a table empty or half-filled. Under the source's write lock, like a schema rebuild; a
 * changed base schema rebuilds every table of the base instead. Then a sync type with state of its
 * own (incremental's mark, append's history) runs once in full, which sets that state from the
 * fresh table — the caller has marked the table `resync_required` so append starts a new history.
 */
export async function resyncTables(
  env: SyncerEnv,
  deps: { lock: RwLock; source: Source; client: SyncClient; rows: Table[]; signal: AbortSignal },
): Promise<TableSyncResult[]> {
  const { db } = env;
  const { source, client, rows, signal } = deps;
  const counters = newCounters();
  let baseSchema: BaseSchema;
  try {
    baseSchema = await env.counting(counters, () => client.getBaseSchema(source.baseId, { signal }));
  } catch (err) {
    const message = signal.aborted ? 'cancelled' : `reading the base schema failed: ${oneLine(err)}`;
    return failTables(env, source, rows, message);
  }
  const hash = schemaHash(baseSchema);
  const rebuilt = await deps.lock.write(async () => {
    const old = await loadMapping(db, source.id);
    return rebuildBase(env, {
      source,
      client,
      baseSchema,
      hash,
      old,
      signal,
      counters,
      onlyTables: new Set(rows.map((r) => r.tableId)),
    });
  });
  const results: TableSyncResult[] = [];
  for (const row of rows) {
    const fresh = rebuilt.results.get(row.tableId);
    if (!fresh) {
      results.push(skipped(source, row, 'the table is no longer in the base'));
      continue;
    }
    if (fresh.status !== 'Completed' || REBUILD_IS_THE_RUN.has(row.syncType)) {
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
