import type { AirtableRecord } from '../src/airtable/types.ts';
import { quoteQualified } from '../src/db/quote.ts';
import { sql } from '../src/db/sql.ts';
import { applyRecords, deleteUnseen, takeFence } from '../src/mirror/index.ts';
import type { TableMapping } from '../src/mirror/types.ts';
import { recordHash } from './hash-cache.ts';
import type { TableSyncContext } from './strategy.ts';

/**
 * The full_refresh sweep of one table (DESIGN flow 2, ARCHITECTURE "the fence"):
 *
 * 1. Before each page is fetched, take a fence value S (nextval of airmirror.fence_seq). The
 *    first one is the listing fence S0.
 * 2. Hash each record; records whose hash the cache holds were written exactly so by an earlier
 *    sweep and are skipped. The rest are applied in batches through the single write path with
 *    `fetchedBefore` = the fence taken before the batch's FIRST page (older = more conservative:
 *    rows a proxy/webhook wrote after it are skipped, never rolled back).
 * 3. The cache learns a hash only after the batch's transaction committed, and forgets records
 *    the fence may have skipped (ApplyResult counts them but does not name them, so every record
 *    of such a batch that was not written is forgotten: costs a no-op upsert next time, never a
 *    wrong skip).
 * 4. Only after the listing COMPLETED, delete mirror rows not seen, sparing rows fenced after S0
 *    (created through the proxy mid-sweep). A listing that throws or is aborted deletes nothing.
 * 5. An expired iterator (the client's ListingRestartRequired, reference §1.1) restarts the
 *    listing from page 1 with a new S0 and a fresh seen-set, at most `maxRestarts` times.
 *
 * Fetching the next page overlaps with applying the current one (one page of look-ahead), so an
 * unthrottled sweep is bound by whichever is slower, not by their sum.
 *
 * In rebuild mode (`swapSchema`) the target is the freshly created `<schema>_swap` table: the cache
 * is not consulted (the table starts empty) but learns, writes carry `schemaOverride` (no outbox
 * events), and a restart empties the swap table instead of deleting unseen rows.
 */
export interface SweepRun {
  /** Rebuild mode: fill this schema's copy of the table. */
  swapSchema?: string;
  /** Do not consult the cache (still learn). */
  ignoreCache?: boolean;
  /** Records per write-path call (several pages). */
  batchSize?: number;
  maxRestarts?: number;
  /** Pages fetched ahead of the one being applied. */
  prefetchPages?: number;
}

export const DEFAULT_SWEEP_BATCH = 500;
export const DEFAULT_MAX_RESTARTS = 3;
/** Enough to keep Airtable (or the emulator) busy while a batch is written, small in memory. */
export const DEFAULT_PREFETCH_PAGES = 8;

export class ListingRestartsExhausted extends Error {
  constructor(tableId: string, restarts: number) {
    super(`listing of table ${tableId} expired ${restarts} times in a row; giving up for this run`);
    this.name = 'ListingRestartsExhausted';
  }
}

/** The client's signal that the listing iterator expired (ListingRestartRequired / 422 type). */
export function isListingRestart(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'ListingRestartRequired' || e.code === 'LIST_RECORDS_ITERATOR_NOT_AVAILABLE';
}

interface FencedPage {
  fence: string;
  records: AirtableRecord[];
}

export async function sweepTable(ctx: TableSyncContext, opts: SweepRun = {}): Promise<void> {
  const maxRestarts = opts.maxRestarts ?? DEFAULT_MAX_RESTARTS;
  for (let attempt = 0; ; attempt++) {
    try {
      await sweepOnce(ctx, opts);
      return;
    } catch (err) {
      if (!isListingRestart(err) || ctx.signal.aborted) throw err;
      ctx.run.listingRestarts++;
      if (attempt >= maxRestarts) throw new ListingRestartsExhausted(ctx.table.tableId, attempt + 1);
      ctx.log.warn(
        { table: ctx.table.tableId, attempt: attempt + 1 },
        'listing iterator expired; restarting',
      );
      if (opts.swapSchema) {
        ctx.hashCache.forgetTable(ctx.table.tableId);
        await ctx.db.query(sql(`TRUNCATE ${quoteQualified(opts.swapSchema, ctx.table.table)}`));
      }
    }
  }
}

async function sweepOnce(ctx: TableSyncContext, opts: SweepRun): Promise<void> {
  const { table, hashCache, run } = ctx;
  const tableId = table.tableId;
  const useCache = !opts.swapSchema && !opts.ignoreCache;
  const batchSize = opts.batchSize ?? DEFAULT_SWEEP_BATCH;
  const seen = new Set<string>();
  let listingFence: string | undefined;
  if (useCache) await forgetForeignWrites(ctx);

  let batch: { record: AirtableRecord; hash: number }[] = [];
  let batchFence: string | undefined;

  const flush = async () => {
    if (batch.length === 0) return;
    const items = batch;
    const fence = batchFence!;
    batch = [];
    batchFence = undefined;
    const res = await applyRecords(
      ctx.db,
      table,
      items.map((i) => i.record),
      { origin: 'sweep', sourceId: ctx.source.id, fetchedBefore: fence, schemaOverride: opts.swapSchema },
    );
    run.inserted += res.inserted;
    run.updated += res.updated;
    run.unchanged += res.unchanged;
    run.fencedOut += res.fencedOut;
    run.cellErrors += res.cellErrors;
    // Committed: learn. If the fence skipped some rows, only the written ones are certain.
    // A fenced row keeps a newer write, so this version must not be remembered as the row's.
    // Without the fenced ids, only the rows certainly written are learned.
    const fencedIds = res.fencedIds ?? [];
    if (res.fencedOut === 0 && fencedIds.length === 0) {
      for (const i of items) hashCache.learn(tableId, i.record.id, i.hash);
    } else if (res.fencedIds) {
      const fenced = new Set(fencedIds);
      for (const i of items) {
        if (fenced.has(i.record.id)) hashCache.forget(tableId, i.record.id);
        else hashCache.learn(tableId, i.record.id, i.hash);
      }
    } else {
      const written = new Set(res.changedIds);
      for (const i of items) {
        if (written.has(i.record.id)) hashCache.learn(tableId, i.record.id, i.hash);
        else hashCache.forget(tableId, i.record.id);
      }
    }
  };

  // Pages are fetched ahead (bounded) while earlier ones are applied; the internal controller
  // stops the fetching when we bail out.
  const inner = new AbortController();
  const onAbort = () => inner.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const pages = prefetch(fencedPages(ctx, inner.signal), opts.prefetchPages ?? DEFAULT_PREFETCH_PAGES);
  try {
    while (true) {
      const r = await pages.next();
      if (r.done) break;
      const page = r.value;
      listingFence ??= page.fence;
      run.seen += page.records.length;
      for (const record of page.records) {
        seen.add(record.id);
        const hash = recordHash(record);
        if (useCache && hashCache.isKnown(tableId, record.id, hash)) {
          run.cached++;
          continue;
        }
        batchFence ??= page.fence;
        batch.push({ record, hash });
      }
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    inner.abort();
    ctx.signal.removeEventListener('abort', onAbort);
  }
  ctx.signal.throwIfAborted();

  // The listing completed. An empty table still had a fence taken before its one (empty) page.
  if (opts.swapSchema) return; // the swap table holds exactly what was listed
  const res = await deleteUnseen(ctx.db, table, seen, {
    sourceId: ctx.source.id,
    origin: 'sweep',
    listingFence: listingFence!,
  });
  run.deleted += res.deleted;
  for (const id of res.ids) hashCache.forget(tableId, id);
}

/**
 * Other writers (proxy, webhook) stamp the row fence when they change a mirror row. A record the
 * cache remembers may since have been changed in the mirror by them — and if Airtable then went
 * back to the remembered version, a cache hit would leave the mirror wrong. So before consulting
 * the cache, forget every record fenced since the previous look (the mark is a fence taken just
 * before that look; anything fenced later is caught next time).
 */
async function forgetForeignWrites(ctx: TableSyncContext): Promise<void> {
  const { hashCache, table } = ctx;
  const mark = hashCache.fenceMark(table.tableId);
  const next = await takeFence(ctx.db);
  if (mark === undefined) {
    hashCache.forgetTable(table.tableId);
  } else {
    const r = await ctx.db.query<{ record_id: string }>(
      sql(
        `SELECT record_id FROM airmirror.row_fence
         WHERE source_id = $1 AND table_id = $2 AND fence > $3::bigint`,
        [ctx.source.id, table.tableId, mark],
      ),
    );
    for (const row of r.rows) hashCache.forget(table.tableId, row.record_id);
  }
  hashCache.setFenceMark(table.tableId, next);
}

/** Pages of the listing, each with the fence taken just before it was fetched. */
async function* fencedPages(ctx: TableSyncContext, signal: AbortSignal): AsyncGenerator<FencedPage> {
  const listing = ctx.client.listAllRecords(
    ctx.source.baseId,
    ctx.table.tableId,
    { pageSize: 100, returnFieldsByFieldId: true },
    { signal },
  );
  let pages = 0;
  try {
    while (true) {
      const fence = await takeFence(ctx.db);
      const r = await listing.next();
      // A listing with no page at all still yields its fence: the delete phase needs S0.
      if (r.done) {
        if (pages === 0) yield { fence, records: [] };
        return;
      }
      pages++;
      yield { fence, records: r.value.records };
    }
  } finally {
    await listing.return(undefined).catch(() => undefined);
  }
}

/**
 * Runs `source` ahead of its consumer by up to `depth` items, so fetching the next pages overlaps
 * with writing the current batch. An error of the source is delivered in order, after the items
 * fetched before it.
 */
function prefetch<T>(source: AsyncGenerator<T>, depth: number) {
  const buffer: IteratorResult<T>[] = [];
  let failure: { err: unknown } | undefined;
  let wake: (() => void) | undefined;
  let space: (() => void) | undefined;
  let finished = false;
  void (async () => {
    try {
      while (true) {
        while (buffer.length >= depth) await new Promise<void>((r) => (space = r));
        const r = await source.next();
        buffer.push(r);
        wake?.();
        if (r.done) return;
      }
    } catch (err) {
      failure = { err };
      wake?.();
    } finally {
      finished = true;
    }
  })();
  return {
    async next(): Promise<IteratorResult<T>> {
      while (buffer.length === 0) {
        if (failure) throw failure.err;
        if (finished) return { done: true, value: undefined };
        await new Promise<void>((r) => (wake = r));
      }
      const r = buffer.shift()!;
      space?.();
      return r;
    },
  };
}

/** Row count of a mirror table (after a run, for airmirror.tables.row_count). */
export async function countRows(ctx: Pick<TableSyncContext, 'db'>, table: TableMapping): Promise<number> {
  const r = await ctx.db.query<{ n: string }>(
    sql(`SELECT count(*)::text AS n FROM ${quoteQualified(table.schema, table.table)}`),
  );
  return Number(r.rows[0].n);
}
