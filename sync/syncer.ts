import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import {
  createAirtableClient,
  type AirtableClientOptions,
  type AirtableRequestEvent,
  type RateBudget,
} from '../src/airtable/index.ts';
import type { BaseSchema } from '../src/airtable/types.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { cleanupSwap, countRows, loadMapping, schemaHash } from '../src/mirror/index.ts';
import type { BaseMapping, TableMapping } from '../src/mirror/types.ts';
import { fullRefreshStrategy } from './full-refresh.ts';
import { createHashCache, type RecordHashCache } from './hash-cache.ts';
import { oneLine } from './one-line.ts';
import { PageMemos } from './page-memo.ts';
import { rebuildBase } from './rebuild.ts';
import { RunProgress } from './run-progress.ts';
import { finishRun, newCounters, startRun, type RunCounters } from '../src/bookkeeping/runs.ts';
import { RwLock } from './rwlock.ts';
import { listSources, loadSource, type Source } from '../src/bookkeeping/sources.ts';
import { IllegalTransition } from '../src/bookkeeping/state.ts';
import {
  strategyRegistry,
  type ProgressReporter,
  type SweepOptions,
  type SyncClient,
  type SyncStrategy,
  type TableSyncContext,
} from './strategy.ts';
import { sweepTable } from './sweep.ts';
import {
  applyTableEvent,
  failInterruptedRuns,
  findTable,
  sourceTables,
  type Table,
} from '../src/bookkeeping/tables.ts';

/** Session advisory lock held by the syncer process that did the start-up cleanup ('amsy'). */
const SYNCER_LOCK = 0x616d7379;

/**
 * One progress report of a table's run (issue 7: a progress bar per table on a TTY). `pages` and
 * `records` count what the run has listed so far (never decreasing; a restarted listing keeps
 * counting), `startedAt` is when the table's run began (ms, SyncerDeps.now).
 */
export interface SyncProgress {
  sourceId: string;
  tableId: string;
  tableName: string;
  mirrorTable: string;
  phase: 'listing' | 'deleting' | 'done';
  pages: number;
  records: number;
  startedAt: number;
}

export interface SyncerDeps {
  db: Database;
  fetch: typeof fetch;
  /** The process-wide per-base request budget (shared with the proxy and webhooks). */
  budget: RateBudget;
  /** Where api.airtable.com really is (config.airtableApiUrl). */
  apiUrl: string;
  /** The token of a source: env-configured ones from config (memory), API-created ones decrypted. */
  tokenFor(source: Source): string | Promise<string>;
  /** Entries of the record-hash cache (config.hashCacheSize); 0 disables it. */
  hashCacheSize: number;
  log: Logger;
  now?: () => number;
  /** Sync types besides the built-in full_refresh (incremental, append, webhook). */
  strategies?: readonly SyncStrategy[];
  /** Extra client options (timeouts, attempts, and for tests an injected clock/sleep). */
  clientOptions?: Partial<Omit<AirtableClientOptions, 'apiUrl' | 'token' | 'fetch' | 'budget' | 'onRequest'>>;
  /** Replaces how a source's client is made (must call onRequest per attempt for run accounting). */
  clientFor?: (
    source: Source,
    onRequest: (e: AirtableRequestEvent) => void,
  ) => SyncClient | Promise<SyncClient>;
  /** Records per write-path call and listing restarts per run. */
  sweep?: { batchSize?: number; maxRestarts?: number; prefetchPages?: number };
  /** How often running syncs' counters are written for `status` (run-progress.ts). Default 2 s. */
  progressIntervalMs?: number;
  /** Share a cache (e.g. with an incremental strategy living elsewhere); default: a new one. */
  hashCache?: RecordHashCache;
  /**
   * Called after each page a sweep has processed (its records found unchanged, or handed to the
   * write path, which writes per batch of ~10 pages), when a sweep starts deleting, and when each
   * table's run ends (phase 'done', whatever the outcome). Synchronous and on the sweep's path:
   * keep it cheap (throttle drawing). Not called at all when absent.
   */
  onProgress?: (e: SyncProgress) => void;
}

export interface SyncOptions {
  signal?: AbortSignal;
  /** Full refresh: forget the table's record hashes first, so every record goes to the write path. */
  full?: boolean;
}

export type TableOutcome = 'Completed' | 'Failed' | 'Cancelled' | 'Skipped';

export interface TableSyncResult {
  sourceId: string;
  tableId: string;
  tableName: string;
  mirrorTable: string;
  status: TableOutcome;
  /** Why a table was skipped (paused, already running, vanished, unknown). */
  reason?: string;
  error?: string;
  /** Whether this run was part of a schema rebuild. */
  rebuild: boolean;
  counters: RunCounters;
  runId?: string;
}

export interface SourceSyncResult {
  sourceId: string;
  baseId: string;
  schema: string;
  /** The base schema differed from the one the mirror was built from (or there was none yet). */
  schemaChanged: boolean;
  /** A rebuild was promoted. */
  rebuilt: boolean;
  /** Source-level failure (schema read, rebuild). */
  error?: string;
  tables: TableSyncResult[];
}

export interface SchemaRefreshResult {
  hash: string;
  changed: boolean;
  rebuilt: boolean;
  /** Per-table results of the rebuild, when there was one. */
  tables: TableSyncResult[];
  error?: string;
}

export interface Syncer {
  /** Start-up work: drop leftover swap schemas of crashed rebuilds, fail runs a crash interrupted. */
  start(): Promise<void>;
  /** Aborts running syncs and waits for them to settle. */
  stop(): Promise<void>;
  syncAll(opts?: SyncOptions): Promise<SourceSyncResult[]>;
  syncSource(sourceId: string, opts?: SyncOptions): Promise<SourceSyncResult>;
  /** Airtable table id (tbl…) or the airmirror.tables row id. */
  syncTable(sourceId: string, tableId: string, opts?: SyncOptions): Promise<TableSyncResult>;
  /** Aborts the running sync of a table (by Airtable table id or row id); false when none runs. */
  cancel(tableId: string): boolean;
  /** Re-reads the base schema and rebuilds the mirror when it changed (the proxy calls it on an unknown name). */
  refreshSchema(sourceId: string, opts?: { signal?: AbortSignal }): Promise<SchemaRefreshResult>;
  readonly hashCache: RecordHashCache;
}

/** Everything the syncer's parts share; internal to sync/. */
export interface SyncerEnv {
  db: Database;
  log: Logger;
  now: () => number;
  hashCache: RecordHashCache;
  sweep: { batchSize?: number; maxRestarts?: number; prefetchPages?: number };
  /** Runs `fn` with `counters` receiving the Airtable requests made inside it. */
  counting<T>(counters: RunCounters, fn: () => Promise<T>): Promise<T>;
  /** Registers an abort controller under table keys so `cancel` finds it. */
  track(keys: string[], ac: AbortController): () => void;
  /** Table runs in progress, whose counters `status` shows while they run. */
  runProgress: RunProgress;
  contextFor(args: {
    source: Source;
    client: SyncClient;
    table: TableMapping;
    row: Table;
    counters: RunCounters;
    signal: AbortSignal;
    full: boolean;
    onSweep?: () => void;
  }): TableSyncContext;
}

export function createSyncer(deps: SyncerDeps): Syncer {
  const { db, log } = deps;
  const now = deps.now ?? Date.now;
  const hashCache = deps.hashCache ?? createHashCache({ max: deps.hashCacheSize });
  // Decoded pages per table, for the sweep (page-memo.ts); useless without record hashes.
  const pageMemos = hashCache.max > 0 ? new PageMemos() : undefined;
  const registry = strategyRegistry([fullRefreshStrategy, ...(deps.strategies ?? [])]);
  const requestScope = new AsyncLocalStorage<RunCounters>();
  const runProgress = new RunProgress(db, log, { intervalMs: deps.progressIntervalMs });
  const onRequest = () => {
    const c = requestScope.getStore();
    if (c) c.requests++;
  };
  const locks = new Map<string, RwLock>();
  const lockOf = (sourceId: string) => {
    let l = locks.get(sourceId);
    if (!l) locks.set(sourceId, (l = new RwLock()));
    return l;
  };
  const running = new Map<string, Set<AbortController>>();
  const inflight = new Set<Promise<unknown>>();
  const clients = new Map<string, { token: string; client: SyncClient }>();
  let startupLock: pg.Client | undefined;

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

  const env: SyncerEnv = {
    db,
    log,
    now,
    hashCache,
    sweep: deps.sweep ?? {},
    counting: (counters, fn) => requestScope.run(counters, fn),
    runProgress,
    track(keys, ac) {
      for (const k of keys) {
        let set = running.get(k);
        if (!set) running.set(k, (set = new Set()));
        set.add(ac);
      }
      return () => {
        for (const k of keys) {
          const set = running.get(k);
          set?.delete(ac);
          if (set?.size === 0) running.delete(k);
        }
      };
    },
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

  const live = new Set<AbortController>();
  let stopped = false;
  /**
   * A controller aborted by the caller's signal or by stop(). `done()` unlinks it again, so a
   * long-lived caller signal (a scheduler's) does not collect one listener per run.
   */
  function controller(signal?: AbortSignal): { ac: AbortController; done(): void } {
    const ac = new AbortController();
    if (stopped) ac.abort(new Error('syncer stopped'));
    live.add(ac);
    const onAbort = () => ac.abort(signal!.reason);
    if (signal?.aborted) ac.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    return {
      ac,
      done() {
        live.delete(ac);
        signal?.removeEventListener('abort', onAbort);
      },
    };
  }

  function tracked<T>(p: Promise<T>): Promise<T> {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => undefined);
    return p;
  }

  const skipped = (
    source: Source,
    row: Pick<Table, 'tableId' | 'tableName' | 'mirrorTable'>,
    reason: string,
  ): TableSyncResult => ({
    sourceId: source.id,
    tableId: row.tableId,
    tableName: row.tableName,
    mirrorTable: row.mirrorTable,
    status: 'Skipped',
    reason,
    rebuild: false,
    counters: newCounters(),
  });

  /** One run of one table, in place (the caller holds the source's read lock). */
  async function runTable(
    source: Source,
    client: SyncClient,
    table: TableMapping,
    row: Table,
    opts: SyncOptions,
  ): Promise<TableSyncResult> {
    if (!row.shouldSync || row.status === 'Paused') return skipped(source, row, 'paused');
    const { ac, done } = controller(opts.signal);
    const untrack = env.track([`${source.id}:${row.tableId}`, row.id, row.tableId], ac);
    const counters = newCounters();
    const base = {
      sourceId: source.id,
      tableId: row.tableId,
      tableName: row.tableName,
      mirrorTable: table.table,
      rebuild: false,
      counters,
    };
    try {
      const begun = await beginTableRun(source, row);
      if ('skipped' in begun) return begun.skipped;
      const { runId } = begun;
      runProgress.track(runId, counters);
      let swept = false;
      try {
        const strategy = registry.get(row.syncType);
        if (!strategy) throw new Error(`sync type "${row.syncType}" is not available in this process`);
        if (opts.full) hashCache.forgetTable(row.tableId);
        const ctx = env.contextFor({
          source,
          client,
          table,
          row,
          counters,
          signal: ac.signal,
          full: opts.full ?? false,
          onSweep: () => (swept = true),
        });
        try {
          await env.counting(counters, () => strategy.run(ctx));
        } finally {
          ctx.progress?.done();
        }
        ac.signal.throwIfAborted();
        const rowCount = await countRows(db, table);
        await applyTableEvent(db, source.id, row.tableId, 'succeed', {
          rowCount,
          fullRefresh: swept,
          at: new Date(now()),
        });
        await finishRun(db, runId, 'completed', counters, undefined, log);
        runProgress.untrack(runId);
        return { ...base, status: 'Completed', runId };
      } catch (err) {
        const cancelled = ac.signal.aborted;
        const message = cancelled ? 'cancelled' : oneLine(err);
        if (!cancelled)
          log.warn({ source: source.id, table: row.tableId, err: message }, 'table sync failed');
        await applyTableEvent(db, source.id, row.tableId, cancelled ? 'cancel' : 'fail', { error: message });
        await finishRun(db, runId, cancelled ? 'cancelled' : 'failed', counters, message, log);
        runProgress.untrack(runId);
        return { ...base, status: cancelled ? 'Cancelled' : 'Failed', error: message, runId };
      }
    } finally {
      untrack();
      done();
    }
  }

  /**
   * A table's run begins: its state moves to Running and a run is recorded. A table whose state
   * cannot start (already running, paused…) is skipped, with the reason.
   */
  async function beginTableRun(
    source: Source,
    row: Table,
  ): Promise<{ runId: string } | { skipped: TableSyncResult }> {
    try {
      await applyTableEvent(db, source.id, row.tableId, 'start');
    } catch (err) {
      if (err instanceof IllegalTransition)
        return { skipped: skipped(source, row, `not started: ${err.message}`) };
      throw err;
    }
    const runId = await startRun(db, {
      sourceId: source.id,
      tableId: row.tableId,
      tableName: row.tableName,
      kind: row.syncType,
    });
    return { runId };
  }

  /** A source-level failure (e.g. the schema could not be read) fails each table it concerns. */
  async function failTables(source: Source, rows: Table[], message: string): Promise<TableSyncResult[]> {
    const out: TableSyncResult[] = [];
    for (const row of rows) {
      if (!row.shouldSync || row.status === 'Paused') {
        out.push(skipped(source, row, 'paused'));
        continue;
      }
      const begun = await beginTableRun(source, row);
      if ('skipped' in begun) {
        out.push(begun.skipped);
        continue;
      }
      const { runId } = begun;
      await applyTableEvent(db, source.id, row.tableId, 'fail', { error: message });
      await finishRun(db, runId, 'failed', newCounters(), message, log);
      out.push({
        sourceId: source.id,
        tableId: row.tableId,
        tableName: row.tableName,
        mirrorTable: row.mirrorTable,
        status: 'Failed',
        error: message,
        rebuild: false,
        counters: newCounters(),
        runId,
      });
    }
    return out;
  }

  interface SchemaStep {
    mapping?: BaseMapping;
    changed: boolean;
    rebuilt: boolean;
    hash?: string;
    /** Results of the rebuild, per table id. */
    rebuildResults: Map<string, TableSyncResult>;
    error?: string;
  }

  /**
   * Reads the base schema; same hash as the mirror → nothing to do; different (or no mirror yet)
   * → rebuild the whole base through the swap schema, under the source's write lock (re-checked
   * there, so concurrent callers rebuild once).
   */
  async function schemaStep(source: Source, client: SyncClient, signal: AbortSignal): Promise<SchemaStep> {
    const counters = newCounters();
    let baseSchema: BaseSchema;
    try {
      baseSchema = await env.counting(counters, () => client.getBaseSchema(source.baseId, { signal }));
    } catch (err) {
      const message = signal.aborted ? 'cancelled' : `reading the base schema failed: ${oneLine(err)}`;
      const runId = await startRun(db, { sourceId: source.id, kind: 'schema' });
      await finishRun(db, runId, signal.aborted ? 'cancelled' : 'failed', counters, message, log);
      return { changed: false, rebuilt: false, rebuildResults: new Map(), error: message };
    }
    const hash = schemaHash(baseSchema);
    const current = await loadMapping(db, source.id);
    if (current && current.hash === hash) {
      return { mapping: current, changed: false, rebuilt: false, hash, rebuildResults: new Map() };
    }
    return lockOf(source.id).write(async () => {
      const old = await loadMapping(db, source.id);
      if (old && old.hash === hash) {
        return { mapping: old, changed: false, rebuilt: false, hash, rebuildResults: new Map() };
      }
      log.info({ source: source.id, from: old?.hash ?? null, to: hash }, 'base schema changed; rebuilding');
      const r = await rebuildBase(env, { source, client, baseSchema, hash, old, signal, counters });
      const mapping = r.rebuilt ? await loadMapping(db, source.id) : old;
      return { mapping, changed: true, rebuilt: r.rebuilt, hash, rebuildResults: r.results, error: r.error };
    });
  }

  async function syncSourceNow(sourceId: string, opts: SyncOptions): Promise<SourceSyncResult> {
    const { ac, done } = controller(opts.signal);
    try {
      return await syncSourceWith(sourceId, opts, ac);
    } finally {
      done();
    }
  }

  async function syncSourceWith(
    sourceId: string,
    opts: SyncOptions,
    ac: AbortController,
  ): Promise<SourceSyncResult> {
    const source = await loadSource(db, sourceId);
    if (!source) throw new Error(`source ${sourceId} is not configured`);
    const result: SourceSyncResult = {
      sourceId,
      baseId: source.baseId,
      schema: source.schemaName,
      schemaChanged: false,
      rebuilt: false,
      tables: [],
    };
    let client: SyncClient;
    try {
      client = await clientOf(source);
    } catch (err) {
      result.error = `no usable token: ${oneLine(err)}`;
      result.tables = await failTables(source, await sourceTables(db, sourceId), result.error);
      return result;
    }
    const step = await schemaStep(source, client, ac.signal);
    result.schemaChanged = step.changed;
    result.rebuilt = step.rebuilt;
    if (step.error) {
      result.error = step.error;
      if (step.rebuildResults.size > 0) result.tables = [...step.rebuildResults.values()];
      else result.tables = await failTables(source, await activeRows(sourceId), step.error);
      return result;
    }
    if (step.rebuilt) {
      // The rebuild swept every table of the base just now.
      result.tables = [...step.rebuildResults.values()];
      return result;
    }
    await lockOf(sourceId).read(async () => {
      const mapping = (await loadMapping(db, sourceId)) ?? step.mapping!;
      const byId = new Map(mapping.tables.map((t) => [t.tableId, t]));
      for (const row of await activeRows(sourceId)) {
        const table = byId.get(row.tableId);
        if (!table) {
          result.tables.push(skipped(source, row, 'not in the mirror mapping'));
          continue;
        }
        if (ac.signal.aborted) {
          result.tables.push(skipped(source, row, 'cancelled before it started'));
          continue;
        }
        result.tables.push(await runTable(source, client, table, row, { ...opts, signal: ac.signal }));
      }
    });
    return result;
  }

  const activeRows = async (sourceId: string) =>
    (await sourceTables(db, sourceId)).filter((r) => r.vanishedAt === null);

  async function syncTableNow(
    sourceId: string,
    tableKey: string,
    opts: SyncOptions,
  ): Promise<TableSyncResult> {
    const { ac, done } = controller(opts.signal);
    try {
      return await syncTableWith(sourceId, tableKey, opts, ac);
    } finally {
      done();
    }
  }

  async function syncTableWith(
    sourceId: string,
    tableKey: string,
    opts: SyncOptions,
    ac: AbortController,
  ): Promise<TableSyncResult> {
    const source = await loadSource(db, sourceId);
    if (!source) throw new Error(`source ${sourceId} is not configured`);
    let row = await findRow(sourceId, tableKey);
    if (!row) throw new Error(`table ${tableKey} of source ${sourceId} is not configured`);
    if (row.vanishedAt) return skipped(source, row, 'the table no longer exists in Airtable');
    if (!row.shouldSync || row.status === 'Paused') return skipped(source, row, 'paused');
    let client: SyncClient;
    try {
      client = await clientOf(source);
    } catch (err) {
      return (await failTables(source, [row], `no usable token: ${oneLine(err)}`))[0];
    }
    const step = await schemaStep(source, client, ac.signal);
    const fromRebuild = step.rebuildResults.get(row.tableId);
    if (fromRebuild) return fromRebuild;
    if (step.error) return (await failTables(source, [row], step.error))[0];
    return lockOf(sourceId).read(async () => {
      row = (await findTable(db, sourceId, row!.tableId)) ?? row!;
      const mapping = (await loadMapping(db, sourceId)) ?? step.mapping;
      const table = mapping?.tables.find((t) => t.tableId === row!.tableId);
      if (!table) return skipped(source, row!, 'not in the mirror mapping');
      return runTable(source, client, table, row!, { ...opts, signal: ac.signal });
    });
  }

  async function findRow(sourceId: string, key: string): Promise<Table | undefined> {
    const byTableId = await findTable(db, sourceId, key);
    if (byTableId) return byTableId;
    return (await sourceTables(db, sourceId)).find((r) => r.id === key);
  }

  return {
    hashCache,

    async start() {
      runProgress.start();
      // Start-up cleanup is only safe when no other syncer process is alive: a `sync --once` next
      // to `airmirror start` must not drop the other's swap schema mid-rebuild nor fail its runs.
      // The syncer that did the cleanup holds a session advisory lock until stop().
      if (!startupLock) {
        const client = db.dedicatedClient();
        // The lock session can drop (a Postgres restart); that must not end the process.
        client.on('error', (err) => log.warn({ err: oneLine(err) }, 'syncer lock connection failed'));
        await client.connect();
        const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
          SYNCER_LOCK,
        ]);
        if (!got.rows[0].ok) {
          await client.end().catch(() => undefined);
          log.info('another syncer process is running; skipping start-up cleanup');
          return;
        }
        startupLock = client;
      }
      const sources = await listSources(db);
      for (const s of sources) {
        if (await cleanupSwap(db, s.schemaName)) {
          log.warn(
            { source: s.id, schema: s.schemaName },
            'dropped the swap schema of an interrupted rebuild',
          );
        }
      }
      const n = await failInterruptedRuns(db);
      if (n > 0) log.warn({ tables: n }, 'marked tables interrupted by a previous stop as Failed');
    },

    async stop() {
      stopped = true;
      for (const ac of live) ac.abort(new Error('syncer stopped'));
      await Promise.allSettled([...inflight]);
      await runProgress.stop();
      const lock = startupLock;
      startupLock = undefined;
      if (lock) {
        await lock.query('SELECT pg_advisory_unlock($1)', [SYNCER_LOCK]).catch(() => undefined);
        await lock.end().catch(() => undefined);
      }
    },

    syncAll(opts = {}) {
      return tracked(
        (async () => {
          const sources = await listSources(db);
          return Promise.all(
            sources.map((s) =>
              syncSourceNow(s.id, opts).catch((err): SourceSyncResult => ({
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

    syncSource: (sourceId, opts = {}) => tracked(syncSourceNow(sourceId, opts)),

    syncTable: (sourceId, tableId, opts = {}) => tracked(syncTableNow(sourceId, tableId, opts)),

    cancel(tableId) {
      const set = running.get(tableId);
      if (!set || set.size === 0) return false;
      for (const ac of set) ac.abort(new Error('cancelled'));
      return true;
    },

    refreshSchema(sourceId, opts = {}) {
      return tracked(
        (async () => {
          const source = await loadSource(db, sourceId);
          if (!source) throw new Error(`source ${sourceId} is not configured`);
          const { ac, done } = controller(opts.signal);
          const step = await schemaStep(source, await clientOf(source), ac.signal).finally(done);
          return {
            hash: step.hash ?? source.schemaHash ?? '',
            changed: step.changed,
            rebuilt: step.rebuilt,
            tables: [...step.rebuildResults.values()],
            error: step.error,
          };
        })(),
      );
    },
  };
}
