/** The pieces of a refill (rebuild.ts) that are not its order of steps. */
import { applyDeletes, applyRecords, fencedSince, requestedFields, takeFence } from '../src/mirror/index.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import type { RunCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import type { Table } from '../src/bookkeeping/tables.ts';
import type { SyncClient } from './strategy.ts';
import type { SyncerEnv, TableSyncResult } from './types.ts';

/** Rows the proxy or a webhook wrote (or deleted) since `since`: fetch them again and apply. */
export async function catchUpFenced(
  env: SyncerEnv,
  source: Source,
  client: SyncClient,
  table: TableMapping,
  since: string,
  signal: AbortSignal,
): Promise<void> {
  const ids = await fencedSince(env.db, source.id, table.tableId, since);
  if (ids.length === 0) return;
  const fence = await takeFence(env.db);
  const records = await client.getRecordsByIds(source.baseId, table.tableId, ids, {
    signal,
    fields: requestedFields(table),
  });
  const opts = { origin: 'sweep' as const, sourceId: source.id, fetchedBefore: fence };
  await applyRecords(env.db, table, records, opts);
  const found = new Set(records.map((x) => x.id));
  await applyDeletes(
    env.db,
    table,
    ids.filter((id) => !found.has(id)),
    opts,
  );
  for (const id of ids) env.hashCache.forget(table.tableId, id);
}

export function result(
  source: Source,
  t: TableMapping,
  status: TableSyncResult['status'],
  counters: RunCounters,
  runId: string | undefined,
): TableSyncResult {
  return {
    sourceId: source.id,
    tableId: t.tableId,
    tableName: t.tableName,
    mirrorTable: t.table,
    status,
    rebuild: true,
    counters,
    runId,
  };
}

/** The configuration a new table gets (migration 001 and 003 defaults) until its row exists after promote. */
export function defaultRow(source: Source, t: TableMapping): Table {
  const now = new Date();
  return {
    id: t.tableId,
    sourceId: source.id,
    tableId: t.tableId,
    tableName: t.tableName,
    mirrorTable: t.table,
    mirrorPosition: null,
    syncType: 'full_refresh',
    incrementalField: null,
    incrementalFieldType: null,
    primaryKeyColumns: ['id'],
    syncFrequency: '1hour',
    syncTimeOfDay: null,
    shouldSync: true,
    fullRefreshInterval: '24hour',
    status: null,
    lastSyncedAt: null,
    lastFullRefreshAt: null,
    latestError: null,
    rowCount: 0,
    needsCatchup: false,
    highWaterMark: null,
    highWaterInt: null,
    vanishedAt: null,
    createdAt: now,
    updatedAt: now,
    nextRunAt: null,
    consecutiveFailures: 0,
    resyncRequired: false,
    historyTable: null,
    mirrored: true,
    excludedFields: [],
    fillPending: false,
    schemaWarnings: [],
    schemaName: source.schemaName,
    baseId: source.baseId,
  };
}

export function linked(signal: AbortSignal): AbortController {
  const ac = new AbortController();
  if (signal.aborted) ac.abort(signal.reason);
  else signal.addEventListener('abort', () => ac.abort(signal.reason), { once: true });
  return ac;
}
