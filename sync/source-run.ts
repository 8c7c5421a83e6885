import type { BaseSchema } from '../src/airtable/types.ts';
import { newCounters, startRun, finishRun } from '../src/bookkeeping/runs.ts';
import { loadSource, type Source } from '../src/bookkeeping/sources.ts';
import { findTable, sourceTables, type Table } from '../src/bookkeeping/tables.ts';
import { recordSchemaReadOk } from '../src/bookkeeping/schema-health.ts';
import { setFillPending, tableSelection } from '../src/bookkeeping/schema-state.ts';
import { buildBaseMapping, loadMapping } from '../src/mirror/index.ts';
import type { BaseMapping, TableMapping } from '../src/mirror/types.ts';
import { oneLine } from './one-line.ts';
import { PrimedSchemas } from './primed-schemas.ts';
import { refillTables } from './rebuild.ts';
import { resyncTables } from './resync.ts';
import { applySchemaChange, recordWarnings } from './schema-change.ts';
import { noteSchemaReadFailure } from './schema-retry.ts';
import { RwLock } from './rwlock.ts';
import type { SyncClient } from './strategy.ts';
import { failTables, runTable, skipped } from './table-run.ts';
import type {
  SchemaRefreshResult,
  SourceSyncResult,
  SyncOptions,
  SyncerEnv,
  TableSyncResult,
} from './types.ts';

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
 * The run of a source, or of one of its tables: the schema step first (a changed base schema, or
 * a base never built, rebuilds the whole base through the swap schema, under the source's write
 * lock), then the table runs in place under its read lock. Ids of tables are Airtable table ids
 * or `airmirror.tables` row ids.
 */
export function createSourceRuns(env: SyncerEnv) {
  const { db } = env;
  const primed = new PrimedSchemas(env.now);
  const locks = new Map<string, RwLock>();
  const lockOf = (sourceId: string) => {
    let l = locks.get(sourceId);
    if (!l) locks.set(sourceId, (l = new RwLock()));
    return l;
  };

  /**
   * Reads the base schema and the layout it asks for (what the operator excluded left out, a
   * paused table's refill deferred); same hash as the mirror → nothing to do; different → under
   * the source's write lock (re-checked there, so concurrent callers change it once) the first
   * build of the base through the swap schema, or the change (schema-change.ts: in place where
   * Postgres can, tables filled again only where their values must be read again).
   */
  async function schemaStep(
    e: SyncerEnv,
    source: Source,
    client: SyncClient,
    signal: AbortSignal,
  ): Promise<SchemaStep> {
    const { db, log } = e;
    const counters = newCounters();
    let baseSchema: BaseSchema;
    try {
      baseSchema =
        primed.take(source.id) ??
        (await e.counting(counters, () => client.getBaseSchema(source.baseId, { signal })));
    } catch (err) {
      const message = signal.aborted ? 'cancelled' : `reading the base schema failed: ${oneLine(err)}`;
      const runId = await startRun(db, { sourceId: source.id, kind: 'schema' });
      await finishRun(db, runId, signal.aborted ? 'cancelled' : 'failed', counters, message, log);
      if (!signal.aborted) await noteSchemaReadFailure(db, source.id, message, env.now());
      return { changed: false, rebuilt: false, rebuildResults: new Map(), error: message };
    }
    await recordSchemaReadOk(db, source.id, new Date(env.now()));
    const layout = async () => {
      const current = await loadMapping(db, source.id);
      const selection = await tableSelection(db, source.id);
      const next = buildBaseMapping(source.schemaName, baseSchema, current, selection);
      return { current, selection, next };
    };
    const first = await layout();
    if (first.current && first.current.hash === first.next.hash) {
      return {
        mapping: first.current,
        changed: false,
        rebuilt: false,
        hash: first.next.hash,
        rebuildResults: new Map(),
      };
    }
    return lockOf(source.id).write(async () => {
      const { current: old, selection, next } = await layout();
      const hash = next.hash;
      if (old && old.hash === hash) {
        return { mapping: old, changed: false, rebuilt: false, hash, rebuildResults: new Map() };
      }
      if (!old) {
        log.info({ source: source.id, to: hash }, 'first build of the base');
        const r = await refillTables(e, {
          source,
          client,
          next,
          tableIds: next.tables.map((t) => t.tableId),
          live: new Map(),
          whole: true,
          hash,
          events: false,
          paused: selection.paused,
          signal,
          counters,
        });
        if (r.rebuilt) await recordWarnings(db, source.id, next, new Map(), new Date(env.now()));
        const mapping = r.rebuilt ? await loadMapping(db, source.id) : undefined;
        return {
          mapping,
          changed: true,
          rebuilt: r.rebuilt,
          hash,
          rebuildResults: r.results,
          error: r.error,
        };
      }
      log.info({ source: source.id, from: old.hash, to: hash }, 'base schema changed');
      const r = await applySchemaChange(e, { source, client, old, next, selection, signal, counters });
      return {
        mapping: r.mapping,
        changed: true,
        rebuilt: r.refilled,
        hash,
        rebuildResults: r.results,
        error: r.error,
      };
    });
  }

  const activeRows = async (sourceId: string) =>
    (await sourceTables(db, sourceId)).filter((r) => r.vanishedAt === null && r.mirrored);

  async function findRow(sourceId: string, key: string): Promise<Table | undefined> {
    const byTableId = await findTable(db, sourceId, key);
    if (byTableId) return byTableId;
    return (await sourceTables(db, sourceId)).find((r) => r.id === key);
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
    const lease = await enterBase(source, ac);
    if ('skipped' in lease) return { ...result, skipped: lease.skipped };
    try {
      return await syncSourceOwned(lease.env, source, result, opts, ac);
    } finally {
      lease.done();
    }
  }

  async function syncSourceOwned(
    e: SyncerEnv,
    source: Source,
    result: SourceSyncResult,
    opts: SyncOptions,
    ac: AbortController,
  ): Promise<SourceSyncResult> {
    const sourceId = source.id;
    let client: SyncClient;
    try {
      client = await e.clientOf(source);
    } catch (err) {
      result.error = `no usable token: ${oneLine(err)}`;
      result.tables = await failTables(e, source, await sourceTables(db, sourceId), result.error);
      return result;
    }
    const step = await schemaStep(e, source, client, ac.signal);
    result.schemaChanged = step.changed;
    result.rebuilt = step.rebuilt;
    if (step.error && !step.mapping) {
      // No layout to sync with: the schema could not be read, or the base's first build failed.
      result.error = step.error;
      if (step.rebuildResults.size > 0) result.tables = [...step.rebuildResults.values()];
      else result.tables = await failTables(e, source, await activeRows(sourceId), step.error);
      return result;
    }
    // A schema change that failed halfway recorded the layout the tables have: they sync with it,
    // and the next sync takes the change up again.
    if (step.error) result.error = step.error;
    // Tables the schema step filled again were synced just now; the others run in place, fully
    // when new or retyped columns wait for their values (fill_pending).
    result.tables = [...step.rebuildResults.values()];
    await lockOf(sourceId).read(async () => {
      const mapping = (await loadMapping(db, sourceId)) ?? step.mapping!;
      const byId = new Map(mapping.tables.map((t) => [t.tableId, t]));
      for (const row of await activeRows(sourceId)) {
        if (step.rebuildResults.has(row.tableId)) continue;
        const table = byId.get(row.tableId);
        if (!table) {
          result.tables.push(skipped(source, row, 'not in the mirror mapping'));
          continue;
        }
        if (ac.signal.aborted) {
          result.tables.push(skipped(source, row, 'cancelled before it started'));
          continue;
        }
        result.tables.push(
          await runTableFilling(e, source, client, table, row, { ...opts, signal: ac.signal }),
        );
      }
    });
    return result;
  }

  async function syncTableWith(
    sourceId: string,
    tableKey: string,
    opts: SyncOptions,
    ac: AbortController,
  ): Promise<TableSyncResult> {
    const source = await loadSource(db, sourceId);
    if (!source) throw new Error(`source ${sourceId} is not configured`);
    const row = await findRow(sourceId, tableKey);
    if (!row) throw new Error(`table ${tableKey} of source ${sourceId} is not configured`);
    if (row.vanishedAt) return skipped(source, row, 'the table no longer exists in Airtable');
    if (!row.mirrored) return skipped(source, row, 'excluded from the mirror');
    if (!row.shouldSync || row.status === 'Paused') return skipped(source, row, 'paused');
    const lease = await enterBase(source, ac);
    if ('skipped' in lease) return { ...skipped(source, row, lease.skipped), notOwner: true };
    try {
      return await syncTableOwned(lease.env, source, row, opts, ac);
    } finally {
      lease.done();
    }
  }

  async function syncTableOwned(
    e: SyncerEnv,
    source: Source,
    first: Table,
    opts: SyncOptions,
    ac: AbortController,
  ): Promise<TableSyncResult> {
    const sourceId = source.id;
    let client: SyncClient;
    try {
      client = await e.clientOf(source);
    } catch (err) {
      return (await failTables(e, source, [first], `no usable token: ${oneLine(err)}`))[0];
    }
    const step = await schemaStep(e, source, client, ac.signal);
    const fromRebuild = step.rebuildResults.get(first.tableId);
    if (fromRebuild) return fromRebuild;
    if (step.error && !step.mapping) return (await failTables(e, source, [first], step.error))[0];
    return lockOf(sourceId).read(async () => {
      const row = (await findTable(db, sourceId, first.tableId)) ?? first;
      const mapping = (await loadMapping(db, sourceId)) ?? step.mapping;
      const table = mapping?.tables.find((t) => t.tableId === row.tableId);
      if (!table) return skipped(source, row, 'not in the mirror mapping');
      return runTableFilling(e, source, client, table, row, { ...opts, signal: ac.signal });
    });
  }

  /**
   * A table's run; while new or retyped columns wait for their values from Airtable (`fill_pending`,
   * set by a change in place), one that lists every record, which then clears the mark.
   */
  async function runTableFilling(
    e: SyncerEnv,
    source: Source,
    client: SyncClient,
    table: TableMapping,
    row: Table,
    opts: SyncOptions,
  ): Promise<TableSyncResult> {
    // A full_refresh sweep brings the values as it is (its hash cache forgets a retyped table's
    // rows by itself, sweep.ts); other sync types list only some records unless run in full.
    const full = opts.full || (row.fillPending && row.syncType !== 'full_refresh');
    const r = await runTable(e, source, client, table, row, { ...opts, full });
    if (r.status === 'Completed' && row.fillPending)
      await setFillPending(e.db, source.id, [row.tableId], false);
    return r;
  }

  /**
   * The base's work may start only while this process owns the base (docs/ownership.md): the
   * lease's database fences every statement with the owner's epoch, and losing the base aborts
   * the work (as an interruption, not a cancel).
   */
  async function enterBase(
    source: Source,
    ac: AbortController,
  ): Promise<{ env: SyncerEnv; done(): void } | { skipped: string }> {
    const lease = await env.ownership.enter(source.id);
    if (!lease) return { skipped: await env.notOwnedReason(source.id) };
    const onLost = () => ac.abort(lease.signal.reason);
    if (lease.signal.aborted) onLost();
    else lease.signal.addEventListener('abort', onLost, { once: true });
    return {
      env: env.forBase(lease.db),
      done: () => {
        lease.signal.removeEventListener('abort', onLost);
        lease.release();
      },
    };
  }

  /** Runs `fn` with a controller linked to `signal` and to the syncer's stop(). */
  async function controlled<T>(signal: AbortSignal | undefined, fn: (ac: AbortController) => Promise<T>) {
    const { ac, done } = env.controller(signal);
    try {
      return await fn(ac);
    } finally {
      done();
    }
  }

  return {
    syncSource: (sourceId: string, opts: SyncOptions): Promise<SourceSyncResult> =>
      controlled(opts.signal, (ac) => syncSourceWith(sourceId, opts, ac)),

    syncTable: (sourceId: string, tableKey: string, opts: SyncOptions): Promise<TableSyncResult> =>
      controlled(opts.signal, (ac) => syncTableWith(sourceId, tableKey, opts, ac)),

    /** Tables (Airtable ids or row ids) built fresh beside the live ones and swapped in (resync.ts). */
    resync: (sourceId: string, tableKeys: string[], opts: SyncOptions): Promise<TableSyncResult[]> =>
      controlled(opts.signal, async (ac) => {
        const source = await loadSource(db, sourceId);
        if (!source) throw new Error(`source ${sourceId} is not configured`);
        const rows: Table[] = [];
        for (const key of tableKeys) {
          const row = await findRow(sourceId, key);
          if (!row) throw new Error(`table ${key} of source ${sourceId} is not configured`);
          rows.push(row);
        }
        // Under the base's lease, like every run of the base (docs/ownership.md).
        const lease = await enterBase(source, ac);
        if ('skipped' in lease)
          return rows.map((row) => ({ ...skipped(source, row, lease.skipped), notOwner: true }));
        try {
          const e = lease.env;
          let client: SyncClient;
          try {
            client = await e.clientOf(source);
          } catch (err) {
            return failTables(e, source, rows, `no usable token: ${oneLine(err)}`);
          }
          return resyncTables(e, { lock: lockOf(sourceId), source, client, rows, signal: ac.signal });
        } finally {
          lease.done();
        }
      }),

    primeSchema: (sourceId: string, baseSchema: BaseSchema) => primed.put(sourceId, baseSchema),

    async refreshSchema(sourceId: string, opts: { signal?: AbortSignal }): Promise<SchemaRefreshResult> {
      const source = await loadSource(db, sourceId);
      if (!source) throw new Error(`source ${sourceId} is not configured`);
      return controlled(opts.signal, async (ac) => {
        const unchanged = { hash: source.schemaHash ?? '', changed: false, rebuilt: false, tables: [] };
        const lease = await enterBase(source, ac);
        if ('skipped' in lease) return { ...unchanged, skipped: lease.skipped };
        try {
          const step = await schemaStep(lease.env, source, await lease.env.clientOf(source), ac.signal);
          return {
            hash: step.hash ?? source.schemaHash ?? '',
            changed: step.changed,
            rebuilt: step.rebuilt,
            tables: [...step.rebuildResults.values()],
            error: step.error,
          };
        } finally {
          lease.done();
        }
      });
    },
  };
}
