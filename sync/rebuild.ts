import type { BaseSchema } from '../src/airtable/types.ts';
import {
  buildBaseMapping,
  cleanupSwap,
  buildSwapSchema,
  promoteTables,
  swapSchemaName,
  takeFence,
  withLockRetry,
  mappingHash,
  type LostObject,
  type PromoteResult,
} from '../src/mirror/index.ts';
import { setFillPending, tableSelection } from '../src/bookkeeping/schema-state.ts';
import type { BaseMapping, TableMapping } from '../src/mirror/types.ts';
import { oneLine } from './one-line.ts';
import { howStopped, recordEnd } from './record-outcome.ts';
import { catchUpFenced, defaultRow, linked, result } from './rebuild-parts.ts';
import { finishRun, newCounters, startRun, type RunCounters } from '../src/bookkeeping/runs.ts';
import type { Source } from '../src/bookkeeping/sources.ts';
import { canTransition } from '../src/bookkeeping/state.ts';
import type { SyncClient } from './strategy.ts';
import { sweepTable } from './sweep.ts';
import type { SyncerEnv, TableSyncResult } from './types.ts';
import { applyTableEvent, sourceTables } from '../src/bookkeeping/tables.ts';
import { dueNow } from '../src/bookkeeping/ownership.ts';

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
}

export interface RebuildOutcome {
  rebuilt: boolean;
  results: Map<string, TableSyncResult>;
  error?: string;
  /** Reader objects the promote could not carry over. */
  lost: LostObject[];
  /** Change events the refill wrote, per table id. */
  events: Map<string, number>;
}

export interface RefillArgs {
  source: Source;
  client: SyncClient;
  /** The whole layout after the change (names of every table). */
  next: BaseMapping;
  /** Ids of the tables to fill beside the live ones and swap in. */
  tableIds: readonly string[];
  /** The live tables they replace, as they are now (after any change in place); absent: new. */
  live: ReadonlyMap<string, TableMapping>;
  /** Record the whole `next` mapping at the promote (a base's first build or whole rebuild). */
  whole: boolean;
  /** Hash recorded with the promoted tables when not `whole` (the layout is still changing). */
  hash: string;
  /** Write change events for the rows the refill changed (never on a base's first build). */
  events: boolean;
  /** Tables not to promote over: paused ones are written by nothing (a new one is created empty). */
  paused: ReadonlySet<string>;
  signal: AbortSignal;
  counters: RunCounters;
}

/**
 * The first build of a base, or a rebuild of all its tables (docs/DESIGN.md flow 3, invariant 2):
 * every table built in `<schema>_swap`, filled, and promoted in one transaction. What readers built
 * on the old tables is carried over. Kept for callers that rebuild a whole base (a first sync, a
 * resync); a schema change rebuilds only the tables that need it (source-run.ts).
 */
export async function rebuildBase(env: SyncerEnv, args: RebuildArgs): Promise<RebuildOutcome> {
  const { source, baseSchema, old } = args;
  const selection = await tableSelection(env.db, source.id);
  const next = buildBaseMapping(source.schemaName, baseSchema, old, selection);
  return refillTables(env, {
    source,
    client: args.client,
    next,
    tableIds: next.tables.map((t) => t.tableId),
    live: new Map((old?.tables ?? []).map((t) => [t.tableId, t])),
    whole: true,
    hash: next.hash,
    events: old !== undefined,
    paused: old === undefined ? new Set() : selection.paused,
    signal: args.signal,
    counters: args.counters,
  });
}

/**
 * Fills tables again beside the live ones and swaps them in (docs/schema-changes.md): the tables
 * are built in `<schema>_swap`, each filled by a sweep (COPY; no outbox events, the cache is not
 * consulted but learns), then promoted in one transaction that carries readers' objects over and
 * writes change events for the rows whose values changed (src/mirror/promote.ts).
 *
 * Decisions:
 * - A paused table is written by nothing: an existing one is not refilled (its change waits until
 *   it resumes, mapping.ts); a new one (a base's first build) is created empty and filled when it
 *   resumes (`fill_pending`).
 * - Any failure or cancellation before the promote drops the swap schema: the old tables keep
 *   serving, unchanged; the tables are marked Failed (or Cancelled) with the reason.
 * - Proxy/webhook writes during the refill land in the live tables, which the promote replaces.
 *   The fence remembers them: right after the promote the rows fenced since the refill began are
 *   fetched again by id and applied (ids Airtable no longer has are deleted), so the promoted
 *   tables do not lose them.
 */
export async function refillTables(env: SyncerEnv, args: RefillArgs): Promise<RebuildOutcome> {
  const { db, log, hashCache } = env;
  const { source, client, signal } = args;
  const schema = source.schemaName;
  const wanted = new Set(args.tableIds);
  const built = args.next.tables.filter(
    (t) => wanted.has(t.tableId) && !(args.live.has(t.tableId) && args.paused.has(t.tableId)),
  );
  const filled = built.filter((t) => !args.paused.has(t.tableId));
  const mapping: BaseMapping = { ...args.next, tables: built };
  // A whole rebuild records the layout of every table: a paused one left as it is keeps its own.
  const keptTables = args.next.tables.map((t) =>
    built.includes(t) || !args.live.has(t.tableId) ? t : { ...args.live.get(t.tableId)!, schema: t.schema },
  );
  const whole: BaseMapping = {
    ...args.next,
    tables: keptTables,
    hash: keptTables.every((t, i) => t === args.next.tables[i])
      ? args.next.hash
      : mappingHash(keptTables, args.next.excludedTables),
  };
  const rows = new Map((await sourceTables(db, source.id)).map((r) => [r.tableId, r]));
  const sourceRun = await startRun(db, {
    sourceId: source.id,
    kind: 'schema',
    rebuild: true,
    schemaHash: args.next.hash,
  });
  const results = new Map<string, TableSyncResult>();
  const runIds = new Map<string, string>();
  const started = new Set<string>();
  // cancel() of any table of the refill aborts it: it is all-or-nothing.
  const ac = linked(signal);
  const untrack = env.track(
    built.flatMap((t) => [t.tableId, `${source.id}:${t.tableId}`, rows.get(t.tableId)?.id ?? t.tableId]),
    ac,
  );

  const startFence = await takeFence(db);
  let failure: unknown;
  let failedTable: string | undefined;
  let promoted: PromoteResult | undefined;
  // The swap tables are created while the listings start (a fill waits for them before its first
  // write); every path below waits for this to settle before the swap schema can be dropped.
  const swap = swapSchemaName(schema);
  const swapReady = buildSwapSchema(db, schema, mapping);
  swapReady.catch(() => undefined); // observed below; not an unhandled rejection meanwhile
  try {
    // The tables are filled side by side: at 10k records a first sync otherwise waits on each
    // small table's round trips before the big one starts listing. Requests still go through the
    // base's one budget. The first table that fails stops the others (all-or-nothing anyway).
    const siblings = new AbortController();
    const fillSignal = AbortSignal.any([ac.signal, siblings.signal]);
    const fillOne = async (t: TableMapping) => {
      fillSignal.throwIfAborted();
      const row = rows.get(t.tableId) ?? defaultRow(source, t);
      const counters = newCounters();
      results.set(t.tableId, result(source, t, 'Completed', counters, undefined));
      const runId = await startRun(db, {
        sourceId: source.id,
        tableId: t.tableId,
        tableName: t.tableName,
        kind: 'full_refresh',
        rebuild: true,
        schemaHash: args.next.hash,
      });
      runIds.set(t.tableId, runId);
      env.runProgress.track(runId, counters);
      results.get(t.tableId)!.runId = runId;
      if (rows.has(t.tableId) && row.shouldSync && canTransition(row.status, 'start')) {
        await applyTableEvent(db, source.id, t.tableId, 'start');
        started.add(t.tableId);
      }
      hashCache.forgetTable(t.tableId);
      const ctx = env.contextFor({ source, client, table: t, row, counters, signal: fillSignal, full: true });
      try {
        await env.counting(counters, () => sweepTable(ctx, { ...env.sweep, swapSchema: swap, swapReady }));
      } finally {
        ctx.progress?.done();
      }
    };
    const settled = await Promise.allSettled(
      filled.map((t) =>
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
    const positions = new Map(args.next.tables.map((t, i) => [t.tableId, i + 1]));
    promoted = await withLockRetry(
      () =>
        promoteTables(db, {
          sourceId: source.id,
          schema,
          tables: built,
          live: args.live,
          drop: args.whole ? (args.live.size > 0 ? gone(args) : []) : [],
          whole: args.whole ? whole : undefined,
          positions,
          hash: args.hash,
          events: args.events,
          since: startFence,
        }),
      {
        signal: ac.signal,
        onRetry: (attempt) => log.debug({ attempt }, 'promote could not take its locks in time; retrying'),
      },
    );
  } catch (err) {
    failure = err;
  } finally {
    untrack();
    await swapReady.catch(() => undefined);
  }

  if (failure !== undefined || !promoted) {
    // The same policy as a table's run (record-outcome.ts): an interruption (the process
    // stopping, the base lost) leaves the tables Failed and due now; only a cancel is Cancelled.
    const stop = howStopped(ac.signal, failure);
    const cancelled = stop.kind === 'cancelled';
    const interrupted = stop.kind === 'interrupted';
    const message = cancelled ? 'cancelled' : `schema rebuild failed: ${stop.message}`;
    const event = cancelled ? 'cancel' : interrupted ? 'interrupt' : 'fail';
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
      // Postgres may be what failed the refill: the outcome waits for it (sync/record-outcome.ts).
      await recordEnd(env, { source: source.id, table: t.tableId, run: runId }, async () => {
        if (row && started.has(t.tableId)) {
          await applyTableEvent(db, source.id, t.tableId, event, { error: message, ifAllowed: interrupted });
        } else if (row && row.shouldSync && canTransition(row.status, 'start')) {
          // ifAllowed: a retry after a lost answer finds it Running already.
          await applyTableEvent(db, source.id, t.tableId, 'start', { ifAllowed: true });
          await applyTableEvent(db, source.id, t.tableId, event, { error: message, ifAllowed: interrupted });
        }
        // Owed: due now for whoever owns the base next (this process too).
        if (row && interrupted) await db.query(dueNow(source.id, t.tableId));
        if (runId) await finishRun(db, runId, cancelled ? 'cancelled' : 'failed', counters, message, log);
      });
      if (runId) env.runProgress.untrack(runId);
      results.set(t.tableId, {
        ...result(source, t, cancelled ? 'Cancelled' : 'Failed', counters, runId),
        error: message,
        ...(interrupted ? { interrupted } : {}),
      });
    }
    await recordEnd(env, { source: source.id, run: sourceRun }, () =>
      finishRun(db, sourceRun, cancelled ? 'cancelled' : 'failed', args.counters, message, log),
    );
    return { rebuilt: false, results, error: message, lost: [], events: new Map() };
  }

  // Promoted. Tables gone with a whole rebuild: forget their hashes (their rows got vanished_at).
  for (const t of args.whole ? gone(args) : []) {
    hashCache.forgetTable(t.tableId);
    log.warn(
      { source: source.id, table: t.tableId, mirror: t.table },
      'table vanished from the base; mirror table dropped',
    );
  }
  // A paused table created empty gets its rows when it resumes.
  const emptyPaused = built.filter((t) => args.paused.has(t.tableId)).map((t) => t.tableId);
  await setFillPending(db, source.id, emptyPaused, true);
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
      if (!paused) {
        if (!started.has(t.tableId))
          await applyTableEvent(db, source.id, t.tableId, 'start').catch(() => undefined);
        await applyTableEvent(db, source.id, t.tableId, 'succeed', {
          fullRefresh: true,
          at: new Date(env.now()),
        });
        await setFillPending(db, source.id, [t.tableId], false);
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
  await Promise.all(filled.map(finishTable));
  await recordEnd(env, { source: source.id, run: sourceRun }, () =>
    finishRun(db, sourceRun, 'completed', args.counters, undefined, log),
  );
  return { rebuilt: true, results, lost: promoted.lost, events: promoted.events };
}

/** Live tables a whole rebuild leaves out (gone from the base, or excluded). */
function gone(args: RefillArgs): TableMapping[] {
  const kept = new Set(args.next.tables.map((t) => t.tableId));
  return [...args.live.values()].filter((t) => !kept.has(t.tableId));
}
