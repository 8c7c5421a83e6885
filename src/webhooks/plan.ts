import type { WebhookPayload } from '../airtable/types.ts';

/** Marks "every field" in a changed-field set: a record was created or destroyed. */
export const ALL_FIELDS = '*';

/**
 * What a run of webhook payloads asks the mirror to do (docs/airtable-reference.md §4.7): which records to fetch
 * again per table (created or changed, and not destroyed later in the run), which to delete, which
 * fields changed (for computed-field dependencies), and whether the schema moved.
 */
export interface WebhookPlan {
  /** table id → record ids created or changed (applied from payload values, or fetched: src/webhooks/trust.ts). */
  fetch: Map<string, Set<string>>;
  /** table id → record ids destroyed. */
  destroy: Map<string, Set<string>>;
  /** table id → field ids whose values changed (ALL_FIELDS for created/destroyed records). */
  changedFields: Map<string, Set<string>>;
  /** Tables or fields were created, changed or destroyed: the mirror schema must be refreshed first. */
  schemaChanged: boolean;
  /** The code of an error payload (INVALID_HOOK, INVALID_FILTERS, …): the hook is unusable. */
  errorCode?: string;
}

function add(map: Map<string, Set<string>>, key: string, values: Iterable<string>): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  for (const v of values) set.add(v);
}

const keys = (o: Record<string, unknown> | undefined | null): string[] => (o ? Object.keys(o) : []);

/**
 * Folds payloads (in cursor order) into one plan. Every key of a payload is optional and new keys
 * may appear (docs/airtable-reference.md §4.7), so only what is present is read and anything unknown is ignored.
 */
export function planPayloads(payloads: readonly WebhookPayload[]): WebhookPlan {
  const plan: WebhookPlan = {
    fetch: new Map(),
    destroy: new Map(),
    changedFields: new Map(),
    schemaChanged: false,
  };
  for (const p of payloads) {
    if (p.error) {
      plan.errorCode = p.code ?? 'UNKNOWN_ERROR';
      continue;
    }
    if (keys(p.createdTablesById).length > 0 || (p.destroyedTableIds?.length ?? 0) > 0)
      plan.schemaChanged = true;
    for (const tableId of p.destroyedTableIds ?? []) {
      plan.fetch.delete(tableId);
      plan.destroy.delete(tableId);
    }
    for (const [tableId, t] of Object.entries(p.changedTablesById ?? {})) {
      if (!t) continue;
      if (
        t.changedMetadata ||
        keys(t.createdFieldsById).length > 0 ||
        keys(t.changedFieldsById).length > 0 ||
        (t.destroyedFieldIds?.length ?? 0) > 0
      ) {
        plan.schemaChanged = true;
      }
      for (const [recordId, r] of Object.entries(t.createdRecordsById ?? {})) {
        add(plan.fetch, tableId, [recordId]);
        add(plan.changedFields, tableId, [ALL_FIELDS, ...keys(r?.cellValuesByFieldId)]);
      }
      for (const [recordId, r] of Object.entries(t.changedRecordsById ?? {})) {
        add(plan.fetch, tableId, [recordId]);
        add(plan.changedFields, tableId, keys(r?.current?.cellValuesByFieldId));
      }
      const destroyed = t.destroyedRecordIds ?? [];
      if (destroyed.length > 0) {
        // Record ids are never reused, so a destroyed record needs no fetch, whatever came before.
        const fetch = plan.fetch.get(tableId);
        for (const id of destroyed) fetch?.delete(id);
        add(plan.destroy, tableId, destroyed);
        add(plan.changedFields, tableId, [ALL_FIELDS]);
      }
    }
  }
  // A record created and changed after its destruction in one run cannot happen (ids are not
  // reused), but a changed record listed after its destroy in a later payload must not come back.
  for (const [tableId, ids] of plan.destroy) {
    const fetch = plan.fetch.get(tableId);
    if (fetch) for (const id of ids) fetch.delete(id);
  }
  for (const [tableId, ids] of [...plan.fetch]) if (ids.size === 0) plan.fetch.delete(tableId);
  return plan;
}

/** Whether a table's targeted fetch is cheaper as a full sweep (a big recalculation, an import). */
export function shouldSweep(idCount: number, opts: { threshold: number; rowCount?: number }): boolean {
  if (idCount > opts.threshold) return true;
  // 100 records a page either way: past half the table, listing it all costs about the same.
  return opts.rowCount !== undefined && opts.rowCount >= 200 && idCount > opts.rowCount / 2;
}
