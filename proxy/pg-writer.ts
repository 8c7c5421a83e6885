import { setFillPending, tableSelection } from '../src/bookkeeping/schema-state.ts';
import { sourceByBase, type Source } from '../src/bookkeeping/sources.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { applyDeletes, applyRecords } from '../src/mirror/apply.ts';
import { loadMapping } from '../src/mirror/store.ts';
import { UnknownFieldError, type BaseMapping, type TableMapping } from '../src/mirror/types.ts';
import { ApplyBatcher } from './apply-batcher.ts';
import type { ApplyResult, MirrorWrite, MirrorWriter } from './writer.ts';

export interface PgWriterOptions {
  db: Database;
  /**
   * Re-reads the base schema with the source's token and saves the new mapping (provided by the
   * syncer). Called when a write names a table or field the mapping does not know.
   */
  refreshSchema?: (sourceId: string) => Promise<void>;
  log?: Pick<Logger, 'warn' | 'info'>;
  /**
   * How long a base → (source, schema hash) lookup is reused, saving a round trip per write.
   * A rebuild within that window is caught anyway: a write that hits a missing table or column
   * looks the source up again and retries once. Default 1,000 ms; 0 = look up every write.
   */
  sourceTtlMs?: number;
  now?: () => number;
}

export interface PgWriter extends MirrorWriter {
  /** Drops cached mappings (all, or one source's). */
  invalidate(sourceId?: string): void;
}

type SourceRow = Pick<Source, 'id' | 'schemaHash'>;

/**
 * The Postgres MirrorWriter: finds the source by base id and the table by id or name, and writes
 * through the mirror's single write path as an authoritative proxy write (row fence stamped).
 * Mappings are cached per source and schema hash, so a write costs one lookup plus the apply.
 */
export function createPgWriter(opts: PgWriterOptions): PgWriter {
  const { db } = opts;
  const mappings = new Map<string, BaseMapping>();
  const refreshing = new Map<string, Promise<void>>();
  const batcher = new ApplyBatcher();

  const sourceTtlMs = opts.sourceTtlMs ?? 1_000;
  const now = opts.now ?? Date.now;
  const sources = new Map<string, { row: SourceRow | undefined; at: number }>();
  const pausedBySource = new Map<string, { ids: ReadonlySet<string>; at: number }>();

  /** The source's paused tables, reused for the same window as the source lookup. */
  async function pausedOf(sourceId: string): Promise<ReadonlySet<string>> {
    const hit = pausedBySource.get(sourceId);
    if (hit && now() - hit.at < sourceTtlMs) return hit.ids;
    const ids = (await tableSelection(db, sourceId)).paused;
    pausedBySource.set(sourceId, { ids, at: now() });
    return ids;
  }

  async function sourceOf(baseId: string, fresh = false): Promise<SourceRow | undefined> {
    const hit = sources.get(baseId);
    if (!fresh && hit && now() - hit.at < sourceTtlMs) return hit.row;
    const row = await sourceByBase(db, baseId);
    sources.set(baseId, { row, at: now() });
    return row;
  }

  async function mappingOf(src: SourceRow): Promise<BaseMapping | undefined> {
    const cached = mappings.get(src.id);
    if (cached && cached.hash === src.schemaHash) return cached;
    const m = await loadMapping(db, src.id);
    if (m) mappings.set(src.id, m);
    else mappings.delete(src.id);
    return m;
  }

  /** One refresh at a time per source; concurrent writes wait for the same one. */
  async function refresh(sourceId: string, why: string): Promise<boolean> {
    if (!opts.refreshSchema) return false;
    let p = refreshing.get(sourceId);
    if (!p) {
      opts.log?.info({ sourceId, why }, 'proxy: schema refresh for an unknown table or field');
      p = opts.refreshSchema(sourceId).finally(() => refreshing.delete(sourceId));
      refreshing.set(sourceId, p);
    }
    await p;
    mappings.delete(sourceId);
    return true;
  }

  function findTable(m: BaseMapping, ref: string): TableMapping | undefined {
    return m.tables.find((t) => t.tableId === ref) ?? m.tables.find((t) => t.tableName === ref);
  }

  async function write(src: SourceRow, w: MirrorWrite): Promise<ApplyResult> {
    const mapping = await mappingOf(src);
    if (!mapping) return 'pending'; // its first build may already have listed these records
    const table = findTable(mapping, w.tableIdOrName);
    if (!table) {
      // A table the operator excluded from the mirror: nothing to apply (not a schema change).
      const ref = w.tableIdOrName;
      if (mapping.excludedTables?.some((t) => t.tableId === ref || t.tableName === ref))
        return 'not-mirrored';
      throw new TableNotMappedError(ref);
    }
    if ((await pausedOf(src.id)).has(table.tableId)) {
      // A paused table is written by nothing (docs/schema-changes.md): the write is Airtable's
      // already; the table owes a full listing when it resumes, which brings it.
      await setFillPending(db, src.id, [table.tableId], true);
      return 'paused';
    }
    const applyOpts = { origin: 'proxy' as const, sourceId: src.id, keyedBy: w.keyedBy, stampFence: true };
    if (w.records && w.records.length > 0) {
      // Same table, same mapping, same keying: concurrent writes may share one transaction.
      const key = JSON.stringify([src.id, mapping.hash, table.tableId, w.keyedBy]);
      await batcher.submit(key, w.records, async (records) => {
        await applyRecords(db, table, records, applyOpts);
      });
    }
    if (w.deletedIds && w.deletedIds.length > 0) await applyDeletes(db, table, w.deletedIds, applyOpts);
    return 'applied';
  }

  /**
   * A write naming a table or field the mapping lacks (or hitting a table/column that is gone)
   * first retries with a fresh source lookup — the cached one may predate a rebuild — and then,
   * if it still does not fit, after a schema refresh.
   */
  async function writeFresh(w: MirrorWrite): Promise<ApplyResult> {
    const src = await sourceOf(w.baseId, true);
    return src ? write(src, w) : 'not-mirrored';
  }

  return {
    async apply(w) {
      const cached = sources.get(w.baseId);
      const fromCache = !!cached && now() - cached.at < sourceTtlMs;
      const src = await sourceOf(w.baseId);
      if (!src) return 'not-mirrored';
      try {
        return await write(src, w);
      } catch (err) {
        if (!isLayoutDrift(err)) throw err;
        if (fromCache) {
          try {
            return await writeFresh(w);
          } catch (again) {
            if (!isLayoutDrift(again)) throw again;
          }
        }
        const why = err instanceof TableNotMappedError ? 'table' : 'field';
        if (!(await refresh(src.id, why))) throw err;
        return writeFresh(w);
      }
    },
    invalidate(sourceId) {
      sources.clear();
      pausedBySource.clear();
      if (sourceId === undefined) mappings.clear();
      else mappings.delete(sourceId);
    },
  };
}

/** A write names a table the mirror mapping does not have (yet). */
export class TableNotMappedError extends Error {
  constructor(readonly tableIdOrName: string) {
    super(`table ${JSON.stringify(tableIdOrName)} is not in the mirror mapping`);
    this.name = 'TableNotMappedError';
  }
}

/**
 * The write does not fit the mirror layout: unknown table or field, or Postgres reports
 * undefined_table / undefined_column / datatype_mismatch (a rebuild changed the layout).
 */
function isLayoutDrift(err: unknown): boolean {
  if (err instanceof TableNotMappedError || err instanceof UnknownFieldError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === '42P01' || code === '42703' || code === '42804';
}
