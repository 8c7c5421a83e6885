import { listSources } from '../src/bookkeeping/sources.ts';
import { createSyncerEnv } from './env.ts';
import { createHashCache } from './hash-cache.ts';
import { SyncerProcess } from './lifecycle.ts';
import { oneLine } from './one-line.ts';
import { createBaseOwnership } from './ownership.ts';
import { RunProgress } from './run-progress.ts';
import { createSchemaRetryLoop } from './schema-retry.ts';
import { createSourceRuns } from './source-run.ts';
import type { SourceSyncResult, Syncer, SyncerDeps } from './types.ts';

export type {
  SchemaRefreshResult,
  SourceSyncResult,
  SyncOptions,
  Syncer,
  SyncerDeps,
  SyncerEnv,
  SyncProgress,
  TableOutcome,
  TableSyncResult,
} from './types.ts';

/**
 * The syncer, composed of its parts: the process lifecycle (lifecycle.ts: start-up recovery on the
 * bases it owns (ownership.ts), stop, cancel, runs in flight), the run of a source (source-run.ts:
 * schema step, then a rebuild (rebuild.ts) or the table runs), the run of a table (table-run.ts),
 * and the sync types (strategy.ts: full_refresh's sweep built in, others passed in).
 */
export function createSyncer(deps: SyncerDeps): Syncer {
  const { db, log } = deps;
  const hashCache = deps.hashCache ?? createHashCache({ max: deps.hashCacheSize });
  const runProgress = new RunProgress(db, log, { intervalMs: deps.progressIntervalMs });
  const ownership = deps.ownership ?? createBaseOwnership({ db, log, role: 'once' });
  const lifecycle = new SyncerProcess({ ownership, ownsOwnership: !deps.ownership, runProgress });
  const env = createSyncerEnv(deps, { hashCache, runProgress, lifecycle, ownership });
  const runs = createSourceRuns(env);
  // Sources whose schema reads fail are tried again while they fail (schema-retry.ts).
  const schemaRetry = createSchemaRetryLoop({
    db,
    log,
    now: env.now,
    sleep: deps.sleep,
    syncSource: (id) => lifecycle.tracked(runs.syncSource(id, {})),
  });

  return {
    hashCache,
    ownership,
    async start() {
      await lifecycle.start();
      schemaRetry.start();
    },
    async stop() {
      await schemaRetry.stop();
      await lifecycle.stop();
    },

    syncAll(opts = {}) {
      return lifecycle.tracked(
        (async () => {
          const sources = await listSources(db);
          return Promise.all(
            sources.map((s) =>
              runs.syncSource(s.id, opts).catch((err): SourceSyncResult => ({
                sourceId: s.id,
                baseId: s.baseId,
                schema: s.schemaName,
                schemaChanged: false,
                rebuilt: false,
                error: oneLine(err),
                tables: [],
              })),
            ),
          );
        })(),
      );
    },

    syncSource: (sourceId, opts = {}) => lifecycle.tracked(runs.syncSource(sourceId, opts)),
    syncTable: (sourceId, tableId, opts = {}) => lifecycle.tracked(runs.syncTable(sourceId, tableId, opts)),
    resync: (sourceId, tableIds, opts = {}) => lifecycle.tracked(runs.resync(sourceId, tableIds, opts)),
    cancel: (tableId) => lifecycle.cancel(tableId),
    refreshSchema: (sourceId, opts = {}) => lifecycle.tracked(runs.refreshSchema(sourceId, opts)),
    primeSchema: (sourceId, baseSchema) => runs.primeSchema(sourceId, baseSchema),
  };
}
