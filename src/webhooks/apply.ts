import type { AirtableRecord, WebhookPayload } from '../airtable/types.ts';
import type { Database, Queryable, WriteTarget } from '../db/database.ts';
import type { Logger } from '../log.ts';
import {
  applyDeletes,
  applyRecords,
  loadMapping,
  requestedFields,
  rowsLinkingTo,
  takeFence,
} from '../mirror/index.ts';
import type { BaseMapping, TableMapping } from '../mirror/types.ts';
import { dependentLinks, type SchemaTables } from './dependencies.ts';
import { planPayloads, shouldSweep, type WebhookPlan } from './plan.ts';
import { setNeedsCatchup, tablesOfSyncType } from '../bookkeeping/index.ts';
import { setFillPending } from '../bookkeeping/schema-state.ts';
import { loadWebhook, saveCursor } from './store.ts';
import { foldPayloadRecords } from './payload-records.ts';
import { splitTrusted } from './trust.ts';
import type { HashCacheLike, WebhookClient, WebhookSyncer } from './types.ts';

export interface DrainDeps {
  db: Database;
  log: Logger;
  now: () => Date;
  syncer?: WebhookSyncer;
  hashCache?: HashCacheLike;
  /** Above this many ids in one table, sweep the table instead of fetching ids. */
  sweepThreshold: number;
  /** How many links deep computed-field dependents are followed. */
  maxDependencyDepth: number;
  /** Payloads read before fetching and applying them together. */
  maxPayloadsPerBatch: number;
  /**
   * Per source, a fence value taken after its previous drain: rows fenced later were written by
   * the proxy since, so their payloads are not applied blindly (src/webhooks/trust.ts). Updated here.
   */
  drainFences?: Map<string, string>;
}

export interface DrainResult {
  payloads: number;
  /** Records applied from the payloads' own cell values, without a fetch. */
  fromPayload: number;
  fetched: number;
  upserted: number;
  deleted: number;
  /** Tables swept instead of fetched by id. */
  swept: string[];
  schemaRefreshed: boolean;
  /** Code of an error payload: the hook is broken and must be re-created (docs/airtable-reference.md §4.7). */
  errorCode?: string;
  /** The cursor jumped past payloads we never saw (purged after 7 days): a catch-up is needed. */
  gap: boolean;
}

/**
 * Reads payloads from the stored cursor while `mightHaveMore` (docs/airtable-reference.md §4.5) and applies each
 * page through the single write path: created/changed records are applied from the payloads'
 * own cells (converted from V2, src/webhooks/payload-cells.ts), destroyed ones deleted; only
 * records a payload cannot be trusted to describe whole (src/webhooks/trust.ts) are fetched, many
 * ids per request, and dependents of computed fields in linked tables with them. The cursor moves in the same transaction as those mirror changes, so
 * a crash replays the page (applying it twice is harmless) and never skips it.
 */
export async function drainPayloads(
  deps: DrainDeps,
  source: { id: string; baseId: string },
  client: WebhookClient,
): Promise<DrainResult> {
  const result: DrainResult = {
    payloads: 0,
    fromPayload: 0,
    fetched: 0,
    upserted: 0,
    deleted: 0,
    swept: [],
    schemaRefreshed: false,
    gap: false,
  };
  for (;;) {
    const hook = await loadWebhook(deps.db, source.id);
    if (!hook || hook.status !== 'active') return result;
    // Read pages while Airtable has more (one request per 50), then fetch and apply them as one
    // batch: under a burst, one targeted fetch per table serves hundreds of payloads.
    const payloads: WebhookPayload[] = [];
    let cursor = hook.cursor;
    let more = true;
    while (more && payloads.length < deps.maxPayloadsPerBatch) {
      const page = await client.listPayloads(source.baseId, hook.webhook_id, { cursor, limit: 50 });
      if (page.cursor - cursor > page.payloads.length) result.gap = true;
      payloads.push(...page.payloads);
      more = page.mightHaveMore && page.payloads.length > 0;
      cursor = page.cursor;
      if (page.payloads.some((p) => p.error)) break;
    }
    result.payloads += payloads.length;
    const plan = planPayloads(payloads);
    if (plan.errorCode) {
      result.errorCode = plan.errorCode;
      return result;
    }
    if (cursor === hook.cursor) return result;
    if (plan.schemaChanged && deps.syncer) {
      await deps.syncer.refreshSchema(source.id);
      result.schemaRefreshed = true;
    }
    const advanced = await applyPlan(deps, source, client, payloads, plan, hook.cursor, cursor, result);
    if (!advanced) continue; // someone else moved the cursor meanwhile: read from where it is now
    if (!more) return result;
  }
}

async function applyPlan(
  deps: DrainDeps,
  source: { id: string; baseId: string },
  client: WebhookClient,
  payloads: WebhookPayload[],
  plan: WebhookPlan,
  fromCursor: number,
  toCursor: number,
  result: DrainResult,
): Promise<boolean> {
  const mapping = await loadMapping(deps.db, source.id);
  const onWebhook = await tablesOfSyncType(deps.db, source.id, 'webhook');
  // A paused table is written by nothing: its changes are not fetched, and it owes a full run
  // (fill_pending) when it resumes, for the changes it missed meanwhile.
  const syncing = onWebhook.filter((t) => t.shouldSync);
  const missed = onWebhook
    .filter((t) => !t.shouldSync && (plan.fetch.has(t.tableId) || plan.destroy.has(t.tableId)))
    .map((t) => t.tableId);
  const rowCounts = new Map(syncing.map((t) => [t.tableId, t.rowCount]));
  const tables = new Map(
    (mapping?.tables ?? []).filter((t) => rowCounts.has(t.tableId)).map((t) => [t.tableId, t]),
  );

  // Rows the proxy (or another webhook run) writes after this point are newer than what we fetch.
  const fence = await takeFence(deps.db);
  const fetched = new Map<string, Map<string, AirtableRecord>>();
  const requested = new Map<string, Set<string>>();
  const toSweep = new Set<string>();

  const fetchIds = async (tableId: string, ids: Iterable<string>) => {
    const table = tables.get(tableId);
    if (!table || toSweep.has(tableId)) return;
    const asked = requested.get(tableId) ?? new Set<string>();
    requested.set(tableId, asked);
    const fresh = [...ids].filter((id) => !asked.has(id) && !plan.destroy.get(tableId)?.has(id));
    if (fresh.length === 0) return;
    if (
      deps.syncer &&
      shouldSweep(asked.size + fresh.length, {
        threshold: deps.sweepThreshold,
        rowCount: rowCounts.get(tableId),
      })
    ) {
      toSweep.add(tableId);
      return;
    }
    for (const id of fresh) asked.add(id);
    const records = await client.getRecordsByIds(source.baseId, tableId, fresh, {
      fields: requestedFields(table),
    });
    result.fetched += records.length;
    const got = fetched.get(tableId) ?? new Map<string, AirtableRecord>();
    fetched.set(tableId, got);
    for (const r of records) got.set(r.id, r);
  };

  // Payload values first; what they cannot be trusted with is fetched (and its dependents).
  const fromPayload = new Map<string, AirtableRecord[]>();
  const untrusted = new Map<string, Set<string>>();
  const payloadRecords = foldPayloadRecords(payloads);
  const fencedAfter = deps.drainFences?.get(source.id);
  for (const [tableId, ids] of plan.fetch) {
    const table = tables.get(tableId);
    if (!table) continue;
    const split = await splitTrusted(
      deps.db,
      source.id,
      table,
      ids,
      payloadRecords.get(tableId),
      fencedAfter,
    );
    fromPayload.set(tableId, split.trusted);
    if (split.fetch.length > 0) untrusted.set(tableId, new Set(split.fetch));
  }
  for (const [tableId, ids] of untrusted) await fetchIds(tableId, ids);
  if (mapping && untrusted.size > 0) {
    const partial: WebhookPlan = { ...plan, fetch: untrusted };
    await fetchDependents(deps.db, mapping, tables, partial, fetched, fetchIds, deps.maxDependencyDepth);
  }

  const sweepIds = [...toSweep];
  const advanced = await deps.db.tx(async (tx) => {
    const current = await loadWebhook(tx, source.id, true);
    if (!current || current.cursor !== fromCursor) return false;
    const txDb = inTransaction(tx);
    for (const tableId of [...tables.keys()].sort()) {
      const table = tables.get(tableId)!;
      if (toSweep.has(tableId)) continue;
      const got = fetched.get(tableId);
      const trusted = (fromPayload.get(tableId) ?? []).filter((r) => !got?.has(r.id));
      result.fromPayload += trusted.length;
      const records = [...trusted, ...(got?.values() ?? [])];
      if (records.length > 0) {
        const r = await applyRecords(txDb, table, records, {
          origin: 'webhook',
          sourceId: source.id,
          stampFence: true,
          fetchedBefore: fence,
        });
        result.upserted += r.inserted + r.updated;
        for (const id of r.changedIds) deps.hashCache?.forget(tableId, id);
      }
      // Destroyed records, and asked-for ids Airtable no longer has (deleted since the payload).
      const gone = new Set(plan.destroy.get(tableId) ?? []);
      for (const id of requested.get(tableId) ?? []) if (!fetched.get(tableId)?.has(id)) gone.add(id);
      if (gone.size > 0) {
        const d = await applyDeletes(txDb, table, [...gone], {
          origin: 'webhook',
          sourceId: source.id,
          stampFence: true,
          fetchedBefore: fence,
        });
        result.deleted += d.deleted;
        for (const id of d.ids) deps.hashCache?.forget(tableId, id);
      }
    }
    await setNeedsCatchup(tx, source.id, sweepIds, true);
    await setFillPending(tx, source.id, missed, true);
    await saveCursor(tx, source.id, toCursor, deps.now());
    return true;
  });
  if (!advanced) return false;
  // Taken after the commit: this drain's own fence stamps are older; the proxy's later ones newer.
  deps.drainFences?.set(source.id, await takeFence(deps.db));

  for (const tableId of sweepIds) {
    const r = await deps.syncer!.syncTable(source.id, tableId, {});
    result.swept.push(tableId);
    if (r.status === 'Completed') await setNeedsCatchup(deps.db, source.id, [tableId], false);
    else
      deps.log.warn(
        { source: source.id, table: tableId, error: r.error },
        'webhook catch-up sweep did not complete',
      );
  }
  return true;
}

/**
 * Follows computed fields across links (docs/airtable-reference.md §3.3: lookups, rollups, counts and formulas over
 * them): records of other tables linked to a changed record are fetched again, level by level.
 * The linked ids come from the mirror's link column (links as they were) and from the freshly
 * fetched records' inverse link field (links as they are now).
 */
async function fetchDependents(
  db: Queryable,
  mapping: BaseMapping,
  tables: Map<string, TableMapping>,
  plan: WebhookPlan,
  fetched: Map<string, Map<string, AirtableRecord>>,
  fetchIds: (tableId: string, ids: Iterable<string>) => Promise<void>,
  maxDepth: number,
): Promise<void> {
  const schema: SchemaTables = {
    tables: mapping.tables.map((t) => ({ id: t.tableId, fields: t.columns.map((c) => c.field) })),
  };
  let frontier = new Map<string, { ids: Set<string>; fields: Set<string> }>();
  for (const [tableId, fields] of plan.changedFields) {
    const ids = new Set([...(plan.fetch.get(tableId) ?? []), ...(plan.destroy.get(tableId) ?? [])]);
    if (ids.size > 0) frontier.set(tableId, { ids, fields });
  }
  for (let depth = 0; depth < maxDepth && frontier.size > 0; depth++) {
    const next = new Map<string, { ids: Set<string>; fields: Set<string> }>();
    for (const [tableId, { ids, fields }] of frontier) {
      for (const dep of dependentLinks(schema, tableId, fields)) {
        const target = tables.get(dep.tableId);
        if (!target) continue;
        const linkColumn = target.columns.find((c) => c.fieldId === dep.linkFieldId);
        const linked = new Set<string>();
        if (linkColumn) {
          for (const id of await rowsLinkingTo(db, target, linkColumn, [...ids])) linked.add(id);
        }
        if (dep.inverseLinkFieldId) {
          for (const id of ids) {
            const now = fetched.get(tableId)?.get(id)?.fields[dep.inverseLinkFieldId];
            if (Array.isArray(now)) for (const v of now) if (typeof v === 'string') linked.add(v);
          }
        }
        if (linked.size === 0) continue;
        await fetchIds(dep.tableId, linked);
        const entry = next.get(dep.tableId) ?? { ids: new Set<string>(), fields: new Set<string>() };
        for (const id of linked) entry.ids.add(id);
        for (const f of dep.computedFieldIds) entry.fields.add(f);
        next.set(dep.tableId, entry);
      }
    }
    frontier = next;
  }
}

/** A write target whose transactions run on the already open `tx`, so the write path joins it. */
function inTransaction(tx: Queryable): WriteTarget {
  return { query: (q) => tx.query(q), tx: (fn) => fn(tx) };
}
