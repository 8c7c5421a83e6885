import type { AirtableRecord, ListRecordsResponse } from '../src/airtable/types.ts';
import {
  applyRecords,
  deleteUnseen,
  emptySwapTable,
  requestedFields,
  takeFence,
} from '../src/mirror/index.ts';
import { hashText, recordHash } from './hash-cache.ts';
import { recordsSpan, spanKey, type PageMemo } from './page-memo.ts';
import { scanListPage, scannedRecord, type ScannedPage } from './page-scan.ts';
import { prefetch } from './prefetch.ts';
import { SwapFillBatch } from '../src/mirror/swap-fill.ts';
import type { TableSyncContext } from './strategy.ts';
import { forgetForeignWrites, forgetRetypedTable } from './cache-guard.ts';
import { countWrite } from '../src/bookkeeping/runs.ts';

/**
 * The full_refresh sweep of one table (docs/DESIGN.md flow 2, docs/ARCHITECTURE.md "the fence"):
 *
 * 1. Before each page is fetched, take a fence value S (nextval of airmirror.fence_seq). The
 *    first one is the listing fence S0. A page may reuse the fence of an earlier page (any fence
 *    taken before the fetch is a valid bound, an older one only more conservative): a new one is
 *    taken when the last one went with records to the write path, or every FENCE_REUSE_PAGES
 *    pages — so a no-change sweep makes one fence query per 10 pages, not per page.
 * 2. Hash each record (its JSON text, located by page-scan.ts without parsing it); records whose
 *    hash the cache holds were written exactly so by an earlier sweep and are skipped without
 *    being parsed or converted. The rest are applied in batches through the single write path with
 *    `fetchedBefore` = the fence taken before the batch's FIRST page (older = more conservative:
 *    rows a proxy/webhook wrote after it are skipped, never rolled back).
 * 3. The cache learns a hash only after the batch's transaction committed, and forgets records
 *    the fence may have skipped (ApplyResult counts them but does not name them, so every record
 *    of such a batch that was not written is forgotten: costs a no-op upsert next time, never a
 *    wrong skip).
 * 4. Only after the listing COMPLETED, delete mirror rows not seen, sparing rows fenced after S0
 *    (created through the proxy mid-sweep). A listing that throws or is aborted deletes nothing.
 * 5. An expired iterator (the client's ListingRestartRequired, docs/airtable-reference.md §1.1) restarts the
 *    listing from page 1 with a new S0 and a fresh seen-set, at most `maxRestarts` times.
 *
 * Fetching the next page overlaps with applying the current one (one page of look-ahead), so an
 * unthrottled sweep is bound by whichever is slower, not by their sum.
 *
 * In rebuild mode (`swapSchema`) the target is the freshly created `<schema>_swap` table: the cache
 * is not consulted (the table starts empty) but learns, records are converted as their page arrives
 * and written by swap-fill.ts (no outbox events, lock or per-row fence: the rebuild's post-promote
 * catch-up refetches rows the proxy wrote meanwhile; one fence value serves the whole listing), and
 * a restart empties the swap table instead of deleting unseen rows.
 */
export interface SweepRun {
  /** Rebuild mode: fill this schema's copy of the table. */
  swapSchema?: string;
  /**
   * Rebuild mode: settles once the swap tables exist (their DDL runs while the listings start);
   * awaited before anything touches the swap table.
   */
  swapReady?: Promise<unknown>;
  /** Do not consult the cache (still learn). */
  ignoreCache?: boolean;
  /** Records per write-path call (several pages). */
  batchSize?: number;
  maxRestarts?: number;
  /** Pages fetched ahead of the one being applied. */
  prefetchPages?: number;
}

/**
 * Records per write-path call. Measured on the 100k demo table (bench/sync.ts): 1000 beat 500 (fewer
 * transactions and statements: ~10% less Postgres CPU) and 2000 gained nothing more.
 */
export const DEFAULT_SWEEP_BATCH = 1000;
export const DEFAULT_MAX_RESTARTS = 3;
/**
 * Enough to keep Airtable (or the emulator) busy while a batch is written — more than a batch's
 * worth of pages, or the listing stalls during every write — and small in memory (~80 KB a page).
 */
export const DEFAULT_PREFETCH_PAGES = 16;
/** Pages that may share one fence value while none of their records is written. */
export const FENCE_REUSE_PAGES = 10;

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

/** One page of the listing as the sweep reads it: ids and hashes always, records on demand. */
interface PageView {
  readonly count: number;
  id(i: number): string;
  hash(i: number): number;
  record(i: number): AirtableRecord;
}

interface FencedPage {
  fence: string;
  page: PageView;
}

/** Shared by the page producer and the consumer: did records of the current fence's pages get written? */
interface FenceUse {
  used: boolean;
}

const EMPTY_PAGE: PageView = {
  count: 0,
  id: () => '',
  hash: () => 0,
  record: () => {
    throw new RangeError('empty page');
  },
};

function recordsView(records: AirtableRecord[]): PageView {
  return {
    count: records.length,
    id: (i) => records[i].id,
    hash: (i) => recordHash(records[i]),
    record: (i) => records[i],
  };
}

/**
 * The client's page decoder for the sweep: located records (page-scan.ts), or, for a body the
 * scanner does not follow, JSON.parse of the whole page (malformed JSON throws as before). With a
 * memo, a page whose records' text was seen in the previous listing takes its ids and hashes from
 * there (page-memo.ts) and is scanned only if one of its records is wanted.
 */
export function decodeSweepPage(text: string, memo?: PageMemo): PageView & { offset?: string } {
  const span = memo && recordsSpan(text);
  const key = span && spanKey(text, span.start, span.end);
  const known = key ? memo!.get(key) : undefined;
  if (known) {
    let scanned: ScannedPage | undefined;
    return {
      offset: span!.offset,
      count: known.ids.length,
      id: (i) => known.ids[i],
      hash: (i) => known.hashes[i],
      record(i) {
        scanned ??= scanListPage(text);
        if (!scanned) throw new Error('a remembered page no longer scans'); // same text: cannot happen
        return scannedRecord(scanned, i);
      },
    };
  }
  const scanned = scanListPage(text);
  if (scanned) {
    const { ids, starts, ends } = scanned;
    const hashes = ids.map((_, i) => hashText(text, starts[i], ends[i]));
    // Remembered only when the offset read from the tail is the page's real offset, so a later
    // page with the same records' text can trust its tail for the offset (an `offset` key inside
    // the span, as in `{"records":[…],"offset":"…","x":[…]}`, would otherwise be lost).
    if (key && span!.offset === scanned.offset) memo!.set(key, { ids, hashes });
    return {
      offset: scanned.offset,
      count: ids.length,
      id: (i) => ids[i],
      hash: (i) => hashes[i],
      record: (i) => scannedRecord(scanned, i),
    };
  }
  const body = JSON.parse(text) as ListRecordsResponse;
  if (!body || !Array.isArray(body.records)) throw new Error('a list-records answer without records');
  return { ...recordsView(body.records), offset: body.offset };
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
        await opts.swapReady;
        ctx.hashCache.forgetTable(ctx.table.tableId);
        await emptySwapTable(ctx.db, opts.swapSchema, ctx.table.table);
      }
    }
  }
}

async function sweepOnce(ctx: TableSyncContext, opts: SweepRun): Promise<void> {
  const { table, hashCache, run } = ctx;
  const tableId = table.tableId;
  const useCache = !opts.swapSchema && !opts.ignoreCache;
  const batchSize = opts.batchSize ?? DEFAULT_SWEEP_BATCH;
  // Ids listed (duplicates are harmless to deleteUnseen's anti-join; an array is cheaper than a Set).
  const seen: string[] = [];
  let listingFence: string | undefined;
  forgetRetypedTable(hashCache, table);
  if (useCache) await forgetForeignWrites(ctx);

  // Records wait for their write as (page, index): a page's text is several times smaller than
  // its parsed records, and parsing just before the write keeps the objects short-lived.
  let batch: { page: PageView; index: number; hash: number }[] = [];
  let batchFence: string | undefined;

  // A swap table (rebuild) is filled without the write path's lock and fence (swap-fill.ts); its
  // records are converted as their page arrives.
  const fill = opts.swapSchema ? new SwapFillBatch(table, opts.swapSchema) : undefined;
  const flushFill = async (f: SwapFillBatch) => {
    await opts.swapReady;
    const { written, ...result } = await f.write(ctx.db);
    countWrite(run, result);
    // Written (the statement committed): learn. Rows the proxy or a webhook wrote meanwhile are
    // forgotten by the rebuild's post-promote catch-up.
    for (const [id, hash] of written) hashCache.learn(tableId, id, hash);
  };

  const flush = async () => {
    if (fill) return flushFill(fill);
    if (batch.length === 0) return;
    const items = batch;
    const fence = batchFence!;
    batch = [];
    batchFence = undefined;
    const records = items.map((i) => i.page.record(i.index));
    const res = await applyRecords(ctx.db, table, records, {
      origin: 'sweep',
      sourceId: ctx.source.id,
      fetchedBefore: fence,
    });
    countWrite(run, res);
    // Committed: learn. If the fence skipped some rows, only the written ones are certain.
    // A fenced row keeps a newer write, so this version must not be remembered as the row's.
    // Without the fenced ids, only the rows certainly written are learned.
    const fencedIds = res.fencedIds ?? [];
    if (res.fencedOut === 0 && fencedIds.length === 0) {
      for (let k = 0; k < items.length; k++) hashCache.learn(tableId, records[k].id, items[k].hash);
    } else if (res.fencedIds) {
      const fenced = new Set(fencedIds);
      for (let k = 0; k < items.length; k++) {
        if (fenced.has(records[k].id)) hashCache.forget(tableId, records[k].id);
        else hashCache.learn(tableId, records[k].id, items[k].hash);
      }
    } else {
      const written = new Set(res.changedIds);
      for (let k = 0; k < items.length; k++) {
        if (written.has(records[k].id)) hashCache.learn(tableId, records[k].id, items[k].hash);
        else hashCache.forget(tableId, records[k].id);
      }
    }
  };

  // Pages are fetched ahead (bounded) while earlier ones are applied; the internal controller
  // stops the fetching when we bail out.
  const inner = new AbortController();
  const onAbort = () => inner.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const fenceUse: FenceUse = { used: false };
  const pages = prefetch(
    fencedPages(ctx, inner.signal, fenceUse, !opts.swapSchema),
    opts.prefetchPages ?? DEFAULT_PREFETCH_PAGES,
  );
  try {
    while (true) {
      const r = await pages.next();
      if (r.done) break;
      const { fence, page } = r.value;
      listingFence ??= fence;
      run.seen += page.count;
      for (let i = 0; i < page.count; i++) {
        const id = page.id(i);
        seen.push(id);
        const hash = page.hash(i);
        if (useCache && hashCache.isKnown(tableId, id, hash)) {
          run.cached++;
          continue;
        }
        if (fill) {
          fill.add(page.record(i), hash);
          continue;
        }
        batchFence ??= fence;
        fenceUse.used = true;
        batch.push({ page, index: i, hash });
      }
      if (batch.length >= batchSize || (fill && fill.size >= batchSize)) await flush();
      ctx.progress?.page(page.count);
    }
    await flush();
  } finally {
    inner.abort();
    ctx.signal.removeEventListener('abort', onAbort);
  }
  ctx.signal.throwIfAborted();

  // The listing completed. An empty table still had a fence taken before its one (empty) page.
  if (opts.swapSchema) return; // the swap table holds exactly what was listed
  ctx.progress?.deleting();
  const res = await deleteUnseen(ctx.db, table, seen, {
    sourceId: ctx.source.id,
    origin: 'sweep',
    listingFence: listingFence!,
  });
  run.deleted += res.deleted;
  for (const id of res.ids) hashCache.forget(tableId, id);
}

/**
 * Pages of the listing, each with a fence taken before it was fetched (step 1 of the sweep). The
 * client's text pages when it has them (listAllPages), else its parsed ones (wrapped test clients).
 */
async function* fencedPages(
  ctx: TableSyncContext,
  signal: AbortSignal,
  fenceUse: FenceUse,
  /** false when filling a swap table: its writes consult no fence, so one value serves every page. */
  renewFences = true,
): AsyncGenerator<FencedPage> {
  const { client } = ctx;
  // Fields the operator excluded are never requested (nor stored: the mapping has no column).
  const params = { pageSize: 100, returnFieldsByFieldId: true, fields: requestedFields(ctx.table) };
  const memo = ctx.pageMemo;
  memo?.startListing();
  const decode = (text: string) => decodeSweepPage(text, memo);
  const listing: AsyncGenerator<PageView> = client.listAllPages
    ? client.listAllPages(ctx.source.baseId, ctx.table.tableId, params, decode, { signal })
    : viewsOf(client.listAllRecords(ctx.source.baseId, ctx.table.tableId, params, { signal }));
  let pages = 0;
  let fence: string | undefined;
  let pagesOnFence = 0;
  try {
    while (true) {
      if (fence === undefined || (renewFences && (fenceUse.used || pagesOnFence >= FENCE_REUSE_PAGES))) {
        fence = await takeFence(ctx.db);
        fenceUse.used = false;
        pagesOnFence = 0;
      }
      pagesOnFence++;
      const r = await listing.next();
      // A listing with no page at all still yields its fence: the delete phase needs S0.
      if (r.done) {
        if (pages === 0) yield { fence, page: EMPTY_PAGE };
        return;
      }
      pages++;
      yield { fence, page: r.value };
    }
  } finally {
    await listing.return(undefined).catch(() => undefined);
  }
}

async function* viewsOf(listing: AsyncGenerator<{ records: AirtableRecord[] }>): AsyncGenerator<PageView> {
  for await (const page of listing) yield recordsView(page.records);
}
