import type { BaseSchema } from '../src/airtable/types.ts';
import {
  applyDeletes,
  applyRecords,
  buildBaseMapping,
  cleanupSwap,
  buildSwapSchema,
  countRows,
  fencedSince,
  promoteSwap,
  swapSchemaName,
  takeFence,
} from '../src/mirror/index.ts';
import type { BaseMapping, TableMapping } from '../src/mirror/types.ts';
import { oneLine } from './one-line.ts';
import { recordEnd } from './record-outcome.ts';
import { finishRun, newCounters, startRun, type RunCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import { canTransition } from '../src/bookkeeping/state.ts';
import type { SyncClient } from './strategy.ts';
import { sweepTable } from './sweep.ts';
import type { SyncerEnv, TableSyncResult } from './types.ts';
import { applyTableEvent, sourceTables, type Table } from '../src/bookkeeping/tables.ts';

export interface RebuildArgs {
  source: Source;
  client: SyncClient;
  baseSchema: BaseSchema;
  hash: string;
  /** The mapping the mirror tables were built from; undefined on the first sync of a base. */
  old: BaseMapping | undefined;
  signal: AbortSignal;
  /** Requests of the schema read, accounted to the source-level run. */
  counters: RunCounters;
  /**
   * A resync (`POST /api/schemas/{id}/resync`): only these tables (Airtable ids) are built fresh
   * and swapped in; the others keep serving, untouched. Only with the mapping unchanged (old's
   * hash is `hash`): a changed schema rebuilds every table.
   */
  onlyTables?: ReadonlySet<string>;
}

export interface RebuildOutcome {
  rebuilt: boolean;
  results: Map<string, TableSyncResult>;
  error?: string;
}

/**
 * A schema change (docs/DESIGN.md flow 3, invariant 2): build EVERY table of the base in `<schema>_swap`,
 * fill each with a sweep (no outbox events; the cache is not consulted but learns), then promote
 * in one transaction — readers see the old tables until the commit and the new ones after, never
 * a missing or half-filled table. The first sync of a base takes the same path (old = none).
 *
 * Decisions:
 * - Paused tables are filled too: promote replaces every mirror table of the base, and an empty
 *   table would be worse than one more listing. Their status stays Paused.
 * - A table that vanished from Airtable is NOT built in the swap schema, so the promote that
 *   first misses it drops its mirror table; its airmirror.tables row stays, with `vanished_at`
 *   set (saveMapping), so `status` shows what happened. It is never synced again unless it
 *   reappears (restored from trash), which clears vanished_at.
 * - Any failure or cancellation before the promote drops the swap schema: the old tables keep
 *   serving, unchanged; the tables are marked Failed (or Cancelled) with the reason.
 * - Proxy/webhook writes during the rebuild land in the old tables, which the promote drops. The
 *   fence remembers them: right after the promote the rows fenced since the rebuild began are
 *   fetched again by id and applied (ids Airtable no longer has are deleted), so the promoted
 *   tables do not lose them.
 */
export async function rebuildBase(env: SyncerEnv, args: RebuildArgs): Promise<RebuildOutcome> {
  const { db, log, hashCache } = env;
  const { source, client, baseSchema, hash, old, signal } = args;
  const schema = source.schemaName;
  const mapping = buildBaseMapping(schema, baseSchema, old);
  const only = args.onlyTables && old?.hash === hash ? args.onlyTables : undefined;
  // The tables this rebuild builds and promotes: all of them, or a resync's.
  const built = only ? mapping.tables.filter((t) => only.has(t.tableId)) : mapping.tables;
  const rows = new Map((await sourceTables(db, source.id)).map((r) => [r.tableId, r]));
  const sourceRun = await startRun(db, {
    sourceId: source.id,
    kind: 'schema',
    rebuild: true,
    schemaHash: hash,
  });
  const results = new Map<string, TableSyncResult>();
  const runIds = new Map<string, string>();
  const started = new Set<string>();
  // cancel() of any table of the base aborts the rebuild: it is all-or-nothing.
  const ac = linked(signal);
  const untrack = env.track(
    built.flatMap((t) => [t.tableId, `${source.id}:${t.tableId}`, rows.get(t.tableId)?.id ?? t.tableId]),
    ac,
  );

  const startFence = await takeFence(db);
  let failure: unknown;
  let failedTable: string | undefined;
  // The swap tables are created while the listings start (a fill waits for them before its first
  // write); every path below waits for this to settle before the swap schema can be dropped.
  const swap = swapSchemaName(schema);
  const swapReady = buildSwapSchema(db, schema, only ? { ...mapping, tables: built } : mapping);
  swapReady.catch(() => undefined); // observed below; not an unhandled rejection meanwhile
  try {
    // The tables are filled side by side: at 10k records a first sync otherwise waits on each
    // small table's round trips before the big one starts listing. Requests still go through the
    // base's one budget. The first table that fails stops the others (all-or-nothing anyway).
    const siblings = new AbortController();
    const signal = AbortSignal.any([ac.signal, siblings.signal]);
    const fillOne = async (t: TableMapping) => {
      signal.throwIfAborted();
      const row = rows.get(t.tableId) ?? defaultRow(source, t);
      const counters = newCounters();
      results.set(t.tableId, result(source, t, 'Completed', counters, undefined));
      const runId = await startRun(db, {
        sourceId: source.id,
        tableId: t.tableId,
        tableName: t.tableName,
        kind: 'full_refresh',
        rebuild: true,
        schemaHash: hash,
      });
      runIds.set(t.tableId, runId);
      env.runProgress.track(runId, counters);
      results.get(t.tableId)!.runId = runId;
      if (rows.has(t.tableId) && row.shouldSync && canTransition(row.status, 'start')) {
        await applyTableEvent(db, source.id, t.tableId, 'start');
        started.add(t.tableId);
      }
      hashCache.forgetTable(t.tableId);
      const ctx = env.contextFor({ source, client, table: t, row, counters, signal, full: true });
      try {
        await env.counting(counters, () => sweepTable(ctx, { ...env.sweep, swapSchema: swap, swapReady }));
      } finally {
        ctx.progress?.done();
      }
    };
    const settled = await Promise.allSettled(
      built.map((t) =>
        fillOne(t).catch((err: unknown) => {
          // The first failure is the cause; the siblings it stopped only report the abort.
          if (!siblings.signal.aborted) {
            failedTable = t.tableId;
            siblings.abort(err);
          }
          throw err;
        }),
      ),
    );
    await swapReady; // a table with no records never waited for it
    if (siblings.signal.aborted) throw siblings.signal.reason;
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
    ac.signal.throwIfAborted();
    await promoteWithoutDeadlocks(
      env,
      () =>
        promoteSwap(db, schema, mapping, old, {
          sourceId: source.id,
          lockTimeoutMs: PROMOTE_LOCK_TIMEOUT_MS,
          onlyTables: only,
        }),
      ac.signal,
    );
  } catch (err) {
    failure = err;
  } finally {
    untrack();
    await swapReady.catch(() => undefined);
  }

  if (failure !== undefined) {
    const cancelled = ac.signal.aborted;
    const message = cancelled ? 'cancelled' : `schema rebuild failed: ${oneLine(failure)}`;
    log.warn(
      { source: source.id, table: failedTable, err: message },
      'rebuild abandoned; old tables keep serving',
    );
    await cleanupSwap(db, schema).catch((e) =>
      log.error({ err: oneLine(e) }, 'could not drop the swap schema'),
    );
    for (const t of built) hashCache.forgetTable(t.tableId);
    for (const t of built) {
      const row = rows.get(t.tableId);
      const prior = results.get(t.tableId);
      const counters = prior?.counters ?? newCounters();
      const runId = runIds.get(t.tableId);
      // Postgres may be what failed the rebuild: the outcome waits for it (sync/record-outcome.ts).
      await recordEnd(env, { source: source.id, table: t.tableId, run: runId }, async () => {
        if (row && started.has(t.tableId)) {
          await applyTableEvent(db, source.id, t.tableId, cancelled ? 'cancel' : 'fail', { error: message });
        } else if (row && row.shouldSync && canTransition(row.status, 'start')) {
          // ifAllowed: a retry after a lost answer finds it Running already.
          await applyTableEvent(db, source.id, t.tableId, 'start', { ifAllowed: true });
          await applyTableEvent(db, source.id, t.tableId, cancelled ? 'cancel' : 'fail', { error: message });
        }
        if (runId) await finishRun(db, runId, cancelled ? 'cancelled' : 'failed', counters, message, log);
      });
      if (runId) env.runProgress.untrack(runId);
      results.set(t.tableId, {
        ...result(source, t, cancelled ? 'Cancelled' : 'Failed', counters, runId),
        error: message,
      });
    }
    await recordEnd(env, { source: source.id, run: sourceRun }, () =>
      finishRun(db, sourceRun, cancelled ? 'cancelled' : 'failed', args.counters, message, log),
    );
    return { rebuilt: false, results, error: message };
  }

  // Promoted. Gone tables: forget their hashes (their rows got vanished_at in saveMapping).
  const kept = new Set(mapping.tables.map((t) => t.tableId));
  for (const t of old?.tables ?? []) {
    if (!kept.has(t.tableId)) {
      hashCache.forgetTable(t.tableId);
      log.warn(
        { source: source.id, table: t.tableId, mirror: t.table },
        'table vanished from the base; mirror table dropped',
      );
    }
  }
  // Each table's catch-up and bookkeeping is its own; they run side by side.
  const finishTable = async (t: TableMapping) => {
    const live: TableMapping = { ...t, schema };
    const counters = results.get(t.tableId)!.counters;
    try {
      await env.counting(counters, () => catchUpFenced(env, source, client, live, startFence, signal));
    } catch (err) {
      // The next sweep fixes these rows: the cache mark below makes it re-apply them.
      log.warn({ source: source.id, table: t.tableId, err: oneLine(err) }, 'post-promote catch-up failed');
    }
    hashCache.setFenceMark(t.tableId, startFence);
    const row = rows.get(t.tableId);
    const paused = row && (!row.shouldSync || row.status === 'Paused');
    const runId = runIds.get(t.tableId)!;
    try {
      const rowCount = await countRows(db, live);
      if (!paused) {
        if (!started.has(t.tableId))
          await applyTableEvent(db, source.id, t.tableId, 'start').catch(() => undefined);
        await applyTableEvent(db, source.id, t.tableId, 'succeed', {
          rowCount,
          fullRefresh: true,
          at: new Date(env.now()),
        });
      }
      await finishRun(db, runId, 'completed', counters, undefined, log);
    } catch (err) {
      // Promoted, but its end could not be recorded (Postgres away): Failed, never left Running;
      // the next run sweeps it.
      const message = `recording the rebuild failed: ${oneLine(err)}`;
      await recordEnd(env, { source: source.id, table: t.tableId, run: runId }, async () => {
        if (!paused) await applyTableEvent(db, source.id, t.tableId, 'fail', { error: message });
        await finishRun(db, runId, 'failed', counters, message, log);
      });
      results.set(t.tableId, { ...result(source, t, 'Failed', counters, runId), error: message });
    }
    env.runProgress.untrack(runId);
  };
  await Promise.all(built.map(finishTable));
  await recordEnd(env, { source: source.id, run: sourceRun }, () =>
    finishRun(db, sourceRun, 'completed', args.counters, undefined, log),
  );
  return { rebuilt: true, results };
}

/**
 * The promote drops and replaces several tables in one transaction, taking their locks one by
 * one; a reader whose query touches several of them takes its own locks in its own order. The two
 * can deadlock, and Postgres then aborts one of them — possibly the reader (seen in tests), which
 * would break invariant 2. So the promote waits for each lock at most PROMOTE_LOCK_TIMEOUT_MS, well
 * under Postgres' deadlock_timeout (1 s by default): it always gives up first, rolls back (readers
 * carry on with the old tables) and tries again shortly after.
 */
const PROMOTE_LOCK_TIMEOUT_MS = 200;
const PROMOTE_ATTEMPTS = 25;

async function promoteWithoutDeadlocks(
  env: SyncerEnv,
  promote: () => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await promote();
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // 55P03 lock_not_available (lock_timeout), 40P01 deadlock_detected
      if ((code !== '55P03' && code !== '40P01') || attempt >= PROMOTE_ATTEMPTS) throw err;
      signal.throwIfAborted();
      env.log.debug({ attempt }, 'promote could not take its locks in time; retrying');
      await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random() / 2)));
    }
  }
}

/** Rows the proxy or a webhook wrote (or deleted) since `since`: fetch them again and apply. */
async function catchUpFenced(
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
  const records = await client.getRecordsByIds(source.baseId, table.tableId, ids, { signal });
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

function result(
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
function defaultRow(source: Source, t: TableMapping): Table {
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
    schemaName: source.schemaName,
    baseId: source.baseId,
  };
}

function linked(signal: AbortSignal): AbortController {
  const ac = new AbortController();
  if (signal.aborted) ac.abort(signal.reason);
  else signal.addEventListener('abort', () => ac.abort(signal.reason), { once: true });
  return ac;
}
