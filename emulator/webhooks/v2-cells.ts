import type { StoredField } from '../store/types.ts';
import type { BaseView } from './base-view.ts';

/**
 * REST ("V1") cell values → the V2 values webhook payloads carry (docs/airtable-reference.md §3.3 "Webhook
 * (V2)" column): selects as `{id, name, color?}`, links as `[{id, name}]`, lookups as `{linkedRecordIds,
 * valuesByLinkedRecordId}`; everything else is the same. Empty is `null`.
 */
export interface V2Context {
  view: BaseView;
  tableId: string;
  recordId: string;
  /** The record's link cells as of the values being converted (REST ids), by field id. */
  linkCell(fieldId: string): string[];
}

const MULTI = new Set(['multipleSelects', 'multipleRecordLinks']);

interface Choice {
  id: string;
  name: string;
  color?: string;
}

function choice(field: StoredField, name: unknown): unknown {
  const choices = (field.options?.choices as Choice[] | undefined) ?? [];
  const c = choices.find((x) => x.name === name);
  if (!c) return { name };
  return c.color === undefined ? { id: c.id, name: c.name } : { id: c.id, name: c.name, color: c.color };
}

/** A record's display name: its primary cell as text (Airtable's link `name`). */
export function recordName(view: BaseView, tableId: string, recordId: string): string {
  const primary = view.primaryFieldId(tableId);
  const v = primary ? view.cell(tableId, recordId, primary) : undefined;
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v))
    return v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function toV2(field: StoredField | undefined, value: unknown, ctx: V2Context): unknown {
  if (value === undefined || value === null) return null;
  if (!field) return value;
  switch (field.type) {
    case 'singleSelect':
    case 'externalSyncSource':
      return choice(field, value);
    case 'multipleSelects':
      return Array.isArray(value) ? value.map((n) => choice(field, n)) : value;
    case 'multipleRecordLinks': {
      const target = field.options?.linkedTableId as string;
      return Array.isArray(value)
        ? value.map((id: string) => ({ id, name: recordName(ctx.view, target, id) }))
        : value;
    }
    case 'multipleLookupValues':
      return lookupV2(field, value, ctx);
    default:
      return value;
  }
}

/**
 * Lookups: group the looked-up values by linked record. The linked records' own cells give the
 * grouping; when those cannot explain a (previous) flat array, fall back to one value per linked
 * record when the counts match, else everything under the first record.
 */
function lookupV2(field: StoredField, value: unknown, ctx: V2Context): unknown {
  const flat = Array.isArray(value) ? value : [value];
  const linkFieldId = field.options?.recordLinkFieldId as string | undefined;
  const inLinked = field.options?.fieldIdInLinkedTable as string | undefined;
  const linkField = linkFieldId ? ctx.view.field(ctx.tableId, linkFieldId) : undefined;
  const ids = linkFieldId ? ctx.linkCell(linkFieldId) : [];
  const target = linkField?.options?.linkedTableId as string | undefined;
  const targetField = target && inLinked ? ctx.view.field(target, inLinked) : undefined;
  const grouped: Record<string, unknown[]> = {};
  const inner: V2Context = { ...ctx, tableId: target ?? ctx.tableId, linkCell: () => [] };
  // The flat array holds single elements of multi-valued cells: convert each as a one-item cell.
  const convert = (v: unknown) =>
    targetField && MULTI.has(targetField.type)
      ? ((toV2(targetField, [v], inner) as unknown[])[0] ?? null)
      : toV2(targetField, v, inner);
  if (target && inLinked) {
    for (const id of ids) {
      const v = ctx.view.cell(target, id, inLinked);
      grouped[id] = v === undefined ? [] : Array.isArray(v) ? v : [v];
    }
  }
  const regrouped = ids.flatMap((id) => grouped[id] ?? []);
  if (JSON.stringify(regrouped) !== JSON.stringify(flat)) {
    for (const id of ids) grouped[id] = [];
    if (ids.length === flat.length) ids.forEach((id, i) => (grouped[id] = [flat[i]]));
    else if (ids.length > 0) grouped[ids[0]] = flat;
  }
  const valuesByLinkedRecordId: Record<string, unknown[]> = {};
  for (const id of ids) valuesByLinkedRecordId[id] = grouped[id].map(convert);
  return { linkedRecordIds: ids, valuesByLinkedRecordId };
}
