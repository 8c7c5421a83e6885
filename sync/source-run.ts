import type { BaseSchema } from '../src/airtable/types.ts';
import { newCounters, startRun, finishRun } from '../src/bookkeeping/runs.ts';
import { loadSource, type Source } from '../src/bookkeeping/sources.ts';
import { findTable, sourceTables, type Table } from '../src/bookkeeping/tables.ts';
import { loadMapping, schemaHash } from '../src/mirror/index.ts';
import type { BaseMapping } from '../src/mirror/types.ts';
import { oneLine } from './one-line.ts';
import { rebuildBase } from './rebuild.ts';
import { resyncTables } from './resync.ts';
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
  const { db, log } = env;
  const locks = new Map<string, RwLock>();
  const lockOf = (sourceId: string) => {
    let l = locks.get(sourceId);
    if (!l) locks.set(sourceId, (l = new RwLock()));
    return l;
  };

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

  const activeRows = async (sourceId: string) =>
    (await sourceTables(db, sourceId)).filter((r) => r.vanishedAt === null);

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
    let client: SyncClient;
    try {
      client = await env.clientOf(source);
    } catch (err) {
      result.error = `no usable token: ${oneLine(err)}`;
      result.tables = await failTables(env, source, await sourceTables(db, sourceId), result.error);
      return result;
    }
    const step = await schemaStep(source, client, ac.signal);
    result.schemaChanged = step.changed;
    result.rebuilt = step.rebuilt;
    if (step.error) {
      result.error = step.error;
      if (step.rebuildResults.size > 0) result.tables = [...step.rebuildResults.values()];
      else result.tables = await failTables(env, source, await activeRows(sourceId), step.error);
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
        result.tables.push(await runTable(env, source, client, table, row, { ...opts, signal: ac.signal }));
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
    let row = await findRow(sourceId, tableKey);
    if (!row) throw new Error(`table ${tableKey} of source ${sourceId} is not configured`);
    if (row.vanishedAt) return skipped(source, row, 'the table no longer exists in Airtable');
    if (!row.shouldSync || row.status === 'Paused') return skipped(source, row, 'paused');
    let client: SyncClient;
    try {
      client = await env.clientOf(source);
    } catch (err) {
      return (await failTables(env, source, [row], `no usable token: ${oneLine(err)}`))[0];
    }
    const step = await schemaStep(source, client, ac.signal);
    const fromRebuild = step.rebuildResults.get(row.tableId);
    if (fromRebuild) return fromRebuild;
    if (step.error) return (await failTables(env, source, [row], step.error))[0];
    return lockOf(sourceId).read(async () => {
      row = (await findTable(db, sourceId, row!.tableId)) ?? row!;
      const mapping = (await loadMapping(db, sourceId)) ?? step.mapping;
      const table = mapping?.tables.find((t) => t.tableId === row!.tableId);
      if (!table) return skipped(source, row!, 'not in the mirror mapping');
      return runTable(env, source, client, table, row!, { ...opts, signal: ac.signal });
    });
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
        let client: SyncClient;
        try {
          client = await env.clientOf(source);
        } catch (err) {
          return failTables(env, source, rows, `no usable token: ${oneLine(err)}`);
        }
        return resyncTables(env, { lock: lockOf(sourceId), source, client, rows, signal: ac.signal });
      }),

    async refreshSchema(sourceId: string, opts: { signal?: AbortSignal }): Promise<SchemaRefreshResult> {
      const source = await loadSource(db, sourceId);
      if (!source) throw new Error(`source ${sourceId} is not configured`);
      const { ac, done } = env.controller(opts.signal);
      const step = await schemaStep(source, await env.clientOf(source), ac.signal).finally(done);
      return {
        hash: step.hash ?? source.schemaHash ?? '',
        changed: step.changed,
        rebuilt: step.rebuilt,
        tables: [...step.rebuildResults.values()],
        error: step.error,
      };
    },
  };
}
