import { AsyncLocalStorage } from 'node:async_hooks';
import { createAirtableClient } from '../src/airtable/index.ts';
import type { RunCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import { fullRefreshStrategy } from './full-refresh.ts';
import type { RecordHashCache } from './hash-cache.ts';
import type { SyncerProcess } from './lifecycle.ts';
import type { BaseOwnership } from './ownership.ts';
import { baseHolder } from '../src/bookkeeping/ownership.ts';
import type { Database } from '../src/db/database.ts';
import { oneLine } from './one-line.ts';
import { PageMemos } from './page-memo.ts';
import type { RunProgress } from './run-progress.ts';
import {
  strategyRegistry,
  type ProgressReporter,
  type SweepOptions,
  type SyncClient,
  type TableSyncContext,
} from './strategy.ts';
import { sweepTable } from './sweep.ts';
import type { SyncerDeps, SyncerEnv, SyncProgress } from './types.ts';

/**
 * What the syncer's parts share, made once per syncer: the Airtable client per source (requests
 * counted to the run they belong to), the sync types, and the context a table's run gets.
 */
export function createSyncerEnv(
  deps: SyncerDeps,
  parts: {
    hashCache: RecordHashCache;
    runProgress: RunProgress;
    lifecycle: SyncerProcess;
    ownership: BaseOwnership;
  },
): SyncerEnv {
  const { log } = deps;
  const { hashCache, runProgress, lifecycle, ownership } = parts;
  const now = deps.now ?? Date.now;
  // Decoded pages per table, for the sweep (page-memo.ts); useless without record hashes.
  const pageMemos = hashCache.max > 0 ? new PageMemos() : undefined;
  const requestScope = new AsyncLocalStorage<RunCounters>();
  const onRequest = () => {
    const c = requestScope.getStore();
    if (c) c.requests++;
  };
  const clients = new Map<string, { token: string; client: SyncClient }>();

  async function clientOf(source: Source): Promise<SyncClient> {
    if (deps.clientFor) return deps.clientFor(source, onRequest);
    const token = await deps.tokenFor(source);
    const cached = clients.get(source.id);
    if (cached && cached.token === token) return cached.client;
    const client = createAirtableClient({
      ...deps.clientOptions,
      apiUrl: deps.apiUrl,
      token,
      fetch: deps.fetch,
      budget: deps.budget,
      onRequest,
    });
    clients.set(source.id, { token, client });
    return client;
  }

  function progressFor(source: Source, table: TableMapping): ProgressReporter | undefined {
    const onProgress = deps.onProgress;
    if (!onProgress) return undefined;
    const e: SyncProgress = {
      sourceId: source.id,
      tableId: table.tableId,
      tableName: table.tableName,
      mirrorTable: table.table,
      phase: 'listing',
      pages: 0,
      records: 0,
      startedAt: now(),
    };
    // A listener's exception must not fail the sync.
    const emit = (phase: SyncProgress['phase']) => {
      try {
        onProgress({ ...e, phase });
      } catch (err) {
        log.warn({ err: oneLine(err) }, 'onProgress threw');
      }
    };
    return {
      page(records) {
        e.pages++;
        e.records += records;
        emit('listing');
      },
      deleting: () => emit('deleting'),
      done: () => emit('done'),
    };
  }

  async function notOwnedReason(sourceId: string): Promise<string> {
    const holder = await baseHolder(deps.db, sourceId).catch(() => undefined);
    return holder
      ? `owned by another process (${holder.role} on ${holder.host}, pid ${holder.pid}, process ${holder.processId})`
      : 'not owned by this process (another process is taking it over)';
  }

  const strategies = strategyRegistry([fullRefreshStrategy, ...(deps.strategies ?? [])]);
  // One env per database: the process's, and each base lease's fenced one (forBase).
  const build = (db: Database): SyncerEnv => {
    const env: SyncerEnv = {
      db,
      log,
      now,
      hashCache,
      sweep: deps.sweep ?? {},
      strategies,
      clientOf,
      counting: (counters, fn) => requestScope.run(counters, fn),
      controller: (signal) => lifecycle.controller(signal),
      track: (keys, ac) => lifecycle.track(keys, ac),
      runProgress,
      ownership,
      notOwnedReason,
      forBase: build,
      contextFor({ source, client, table, row, counters, signal, full, onSweep }) {
        const ctx: TableSyncContext = {
          db,
          client,
          source,
          table,
          config: row,
          run: counters,
          hashCache,
          signal,
          log: log.child({ source: source.id, table: table.tableId }),
          now,
          full,
          progress: progressFor(source, table),
          pageMemo: pageMemos?.of(table.tableId),
          sweep: (opts: SweepOptions = {}) => {
            onSweep?.();
            return sweepTable(ctx, { ...env.sweep, ignoreCache: opts.ignoreCache });
          },
        };
        return ctx;
      },
    };
    return env;
  };
  return build(deps.db);
}
