/**
 * The `incremental` sync type (issue 5, docs/airtable-reference.md §5).
 *
 * A normal run lists only records whose incremental field (a lastModifiedTime or createdTime
 * field, stored by id) is after the table's high-water mark minus an overlap window:
 *
 *   IS_AFTER({fldX}, DATETIME_PARSE('<hwm − overlap>'))
 *
 * and applies them through the single write path (origin `incremental`, fenced like a sweep page).
 * The overlap re-reads records edited around the last run (clock skew, edits during the listing);
 * re-applying them is free because the write path skips identical rows (IS DISTINCT FROM).
 *
 * What the filter can never see — deletions, and computed fields (formula, rollup, lookup, …)
 * whose edits do not move lastModifiedTime (docs/airtable-reference.md §5) — is repaired by a full reconciliation,
 * the table's sweep, every `full_refresh_interval`, on the first run, and on a resync (`full`).
 *
 * The high-water mark is the newest incremental value the mirror has seen: from the records of
 * an incremental listing, or after a sweep from the mirror column itself. A never-edited record
 * whose lastModifiedTime cell is empty (docs/airtable-reference.md §5, unconfirmed) counts by its createdTime, in
 * the mark and in the filter.
 *
 * Two kinds of cursor (PostHog's incremental_field_type): a time — lastModifiedTime, createdTime or
 * dateTime (`datetime`) — and an integer, an autoNumber (`integer`): `{fldX} > <mark − overlap>`,
 * its mark in `high_water_int`. An autoNumber is given once, when a record is created, so an
 * integer cursor lists new records only; edits and deletions wait for the reconciliation, as with
 * createdTime. The integer overlap re-reads the last few numbers in case Airtable hands a number out
 * before its record can be listed (not documented either way); re-applying them writes nothing.
 */
import type { AirtableRecord } from '../src/airtable/types.ts';
import { frequencyMs } from '../src/bookkeeping/frequency.ts';
import {
  storeHighWaterMark as saveHighWaterMark,
  storeIntegerHighWaterMark,
} from '../src/bookkeeping/table-config.ts';
import { applyRecords, newestInteger, newestTime, takeFence } from '../src/mirror/index.ts';
import type { ColumnMapping, Origin } from '../src/mirror/types.ts';
import type { SyncStrategy, TableSyncContext } from './strategy.ts';
import { isListingRestart } from './sweep.ts';
import { countWrite } from '../src/bookkeeping/runs.ts';

export interface IncrementalOptions {
  /** How far before the high-water mark each listing starts. Default 5 minutes. */
  overlapMs?: number;
  /** Listing restarts after an expired iterator (docs/airtable-reference.md §1.1). Default 3. */
  maxRestarts?: number;
}

export const DEFAULT_OVERLAP_MS = 5 * 60_000;
/** Numbers an integer cursor re-reads below its mark (the time cursor's overlap, for autoNumbers). */
export const INTEGER_OVERLAP = 100;

/** The kind of cursor a field makes (see above). */
export function cursorKind(field: Pick<ColumnMapping, 'airtableType'>): 'time' | 'integer' {
  return field.airtableType === 'autoNumber' ? 'integer' : 'time';
}

export function createIncrementalStrategy(opts: IncrementalOptions = {}): SyncStrategy {
  return {
    syncType: 'incremental',
    async run(ctx) {
      await syncIncrementally(ctx, { ...opts, origin: 'incremental' });
    },
  };
}

export const incrementalStrategy: SyncStrategy = createIncrementalStrategy();

/** The incremental field's column, or a clear error when it is not usable any more. */
export function incrementalColumn(ctx: TableSyncContext): ColumnMapping {
  const fieldId = ctx.config.incrementalField;
  if (!fieldId) {
    throw new Error(`${ctx.config.syncType} sync of ${ctx.table.tableName} needs an incremental_field`);
  }
  const col = ctx.table.columns.find((c) => c.fieldId === fieldId);
  if (!col) {
    throw new Error(
      `incremental field ${fieldId} is no longer in table ${ctx.table.tableName}; choose another (POST /api/schemas/{id}/incremental-fields)`,
    );
  }
  return col;
}

/**
 * Whether this run must be a full reconciliation rather than an incremental listing. `mark` is
 * the cursor's high-water mark (the time mark unless told otherwise).
 */
export function reconciliationDue(
  ctx: TableSyncContext,
  mark: Date | number | null = ctx.config.highWaterMark,
): boolean {
  const cfg = ctx.config;
  if (ctx.full || mark === null || mark === undefined || !cfg.lastFullRefreshAt) return true;
  const interval = frequencyMs(cfg.fullRefreshInterval);
  return interval !== undefined && ctx.now() - cfg.lastFullRefreshAt.getTime() >= interval;
}

/** The filterByFormula of an incremental listing (field referenced by id: survives renames). */
export function incrementalFormula(
  field: Pick<ColumnMapping, 'fieldId' | 'airtableType'>,
  since: Date,
): string {
  const at = `DATETIME_PARSE('${since.toISOString()}')`;
  const f = `{${field.fieldId}}`;
  if (field.airtableType !== 'lastModifiedTime') return `IS_AFTER(${f}, ${at})`;
  return `OR(IS_AFTER(${f}, ${at}), AND(NOT(${f}), IS_AFTER(CREATED_TIME(), ${at})))`;
}

/** The filterByFormula of an integer cursor's listing: numbers above `after` (field by id). */
export function integerFormula(field: Pick<ColumnMapping, 'fieldId'>, after: number): string {
  return `{${field.fieldId}} > ${Math.trunc(after)}`;
}

/** A record's integer cursor value (an autoNumber), if it has one. */
export function recordNumber(record: AirtableRecord, fieldId: string): number | undefined {
  const v = record.fields?.[fieldId];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A record's incremental time in ms: the field, or createdTime when the cell is empty. */
export function recordTime(record: AirtableRecord, fieldId: string): number | undefined {
  const v = record.fields?.[fieldId];
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isNaN(t)) return t;
  const c = Date.parse(record.createdTime);
  return Number.isNaN(c) ? undefined : c;
}

/**
 * One incremental run (also the first half of an `append` run with an incremental field).
 * Returns whether it reconciled (swept) the whole table.
 */
export async function syncIncrementally(
  ctx: TableSyncContext,
  opts: IncrementalOptions & { origin: Origin },
): Promise<{ reconciled: boolean }> {
  const col = incrementalColumn(ctx);
  const integer = cursorKind(col) === 'integer';
  if (reconciliationDue(ctx, integer ? ctx.config.highWaterInt : ctx.config.highWaterMark)) {
    await ctx.sweep({ ignoreCache: ctx.full });
    if (integer) await storeIntegerMark(ctx, await newestInteger(ctx.db, ctx.table, col), true);
    else await storeHighWaterMark(ctx, await newestTime(ctx.db, ctx.table, col), true);
    return { reconciled: true };
  }
  const formula = integer
    ? integerFormula(col, ctx.config.highWaterInt! - INTEGER_OVERLAP)
    : incrementalFormula(
        col,
        new Date(ctx.config.highWaterMark!.getTime() - (opts.overlapMs ?? DEFAULT_OVERLAP_MS)),
      );
  const valueOf = integer ? recordNumber : recordTime;
  const maxRestarts = opts.maxRestarts ?? 3;
  let newest: number | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      newest = await listAndApply(ctx, formula, (r) => valueOf(r, col.fieldId), opts.origin);
      break;
    } catch (err) {
      if (!isListingRestart(err) || ctx.signal.aborted || attempt >= maxRestarts) throw err;
      ctx.run.listingRestarts++;
      ctx.log.warn({ attempt: attempt + 1 }, 'incremental listing iterator expired; restarting');
    }
  }
  if (newest !== undefined) {
    if (integer) await storeIntegerMark(ctx, newest, false);
    else await storeHighWaterMark(ctx, new Date(newest), false);
  }
  return { reconciled: false };
}

async function listAndApply(
  ctx: TableSyncContext,
  filterByFormula: string,
  valueOf: (record: AirtableRecord) => number | undefined,
  origin: Origin,
): Promise<number | undefined> {
  const { table, source, run } = ctx;
  let newest: number | undefined;
  // The fence before each page: a proxy/webhook write after it is newer than the page (docs/ARCHITECTURE.md).
  let fence = await takeFence(ctx.db);
  for await (const page of ctx.client.listAllRecords(
    source.baseId,
    table.tableId,
    { filterByFormula, returnFieldsByFieldId: true },
    { signal: ctx.signal },
  )) {
    ctx.signal.throwIfAborted();
    run.seen += page.records.length;
    const res = await applyRecords(ctx.db, table, page.records, {
      origin,
      sourceId: source.id,
      fetchedBefore: fence,
    });
    countWrite(run, res);
    // These rows were written outside the sweep: its hash cache must not vouch for them any more.
    for (const r of page.records) ctx.hashCache.forget(table.tableId, r.id);
    for (const r of page.records) {
      const t = valueOf(r);
      if (t !== undefined && (newest === undefined || t > newest)) newest = t;
    }
    fence = await takeFence(ctx.db);
  }
  return newest;
}

/**
 * Stores the mark. After an incremental listing it only moves forward; after a reconciliation it
 * is what the mirror holds (which may be older, e.g. when the newest record was deleted).
 */
async function storeHighWaterMark(ctx: TableSyncContext, hwm: Date | null, replace: boolean): Promise<void> {
  if (hwm === null && !replace) return;
  await saveHighWaterMark(ctx.db, ctx.source.id, ctx.table.tableId, hwm, replace);
  ctx.config.highWaterMark = hwm;
}

/** storeHighWaterMark for an integer cursor. */
async function storeIntegerMark(ctx: TableSyncContext, hwm: number | null, replace: boolean): Promise<void> {
  if (hwm === null && !replace) return;
  await storeIntegerHighWaterMark(ctx.db, ctx.source.id, ctx.table.tableId, hwm, replace);
  ctx.config.highWaterInt = replace ? hwm : Math.max(ctx.config.highWaterInt ?? hwm!, hwm!);
}
