/**
 * The `append` sync type (issue 5): besides keeping the mirror table current, every run records
 * one row per observed version of a record in a history table next to it (src/mirror/history.ts):
 *
 *   <schema>.<table>_history (id, _observed_at, _deleted, created_time, …the mirror's columns)
 *
 * A version is written only when the record's content differs from its latest version (or it has
 * none yet), and a record that left the mirror gets a `_deleted` version. The mirror table is
 * brought up to date first — incrementally when an incremental_field is set (sync/incremental.ts),
 * else by the sweep — and versions are then taken from the mirror rows in one statement, so they
 * are exactly what SQL readers saw, converted by the one write path.
 *
 * The history's columns follow the mirror: new fields become new (nullable) columns. A column
 * whose type changed would mix row shapes, so the run fails with a clear error instead; a resync
 * (`POST /api/schemas/{id}/resync`, or a configuration change that requires one) starts a new
 * history. The history table's name is chosen once and kept in `airmirror.tables.history_table`.
 */
import { historyState } from '../src/bookkeeping/table-config.ts';
import { ensureHistoryTable, recordVersions, type HistoryState } from '../src/mirror/index.ts';
import type { SyncStrategy } from './strategy.ts';
import { syncIncrementally, type IncrementalOptions } from './incremental.ts';

export function createAppendStrategy(opts: IncrementalOptions = {}): SyncStrategy {
  return {
    syncType: 'append',
    async run(ctx) {
      const row = await historyState(ctx.db, ctx.source.id, ctx.table.tableId);
      const state: HistoryState = { name: row.historyTable, resyncRequired: row.resyncRequired };
      if (ctx.config.incrementalField) await syncIncrementally(ctx, { ...opts, origin: 'append' });
      else await ctx.sweep({ ignoreCache: ctx.full });
      ctx.signal.throwIfAborted();
      // A resync (explicit, or required by a config change such as full_refresh → append) starts a
      // new history rather than appending versions of another shape or meaning to the old one.
      const startOver = ctx.full && state.resyncRequired;
      const history = await ensureHistoryTable(ctx.db, ctx.source.id, ctx.table, state, startOver);
      const n = await recordVersions(ctx.db, ctx.table, history, new Date(ctx.now()));
      ctx.log.debug(n, 'append: versions recorded');
    },
  };
}

export const appendStrategy: SyncStrategy = createAppendStrategy();
