import type { AirtableField, AirtableTable, AirtableView } from '../types.ts';
import type { StoredTable } from './table.ts';
import type { StoredField } from './types.ts';

/**
 * A field as the meta API shows it (docs/airtable-reference.md §3.2): description/options omitted when empty.
 */
export function fieldSchema(f: StoredField): AirtableField {
  const out: AirtableField = { id: f.id, name: f.name, type: f.type };
  if (f.description) out.description = f.description;
  if (f.options !== undefined) out.options = f.options === null ? null : structuredClone(f.options);
  return out;
}

/** A table as `GET /v0/meta/bases/{baseId}/tables` shows it; `visibleFieldIds` on grid views only on request. */
export function tableSchema(t: StoredTable, includeVisibleFieldIds = false): AirtableTable {
  const out: AirtableTable = {
    id: t.id,
    name: t.name,
    primaryFieldId: t.primaryFieldId,
    fields: t.fields.map(fieldSchema),
    views: t.views.map((v) => {
      const view: AirtableView = { id: v.id, name: v.name, type: v.type };
      if (includeVisibleFieldIds && v.type === 'grid') {
        view.visibleFieldIds = t.fields.filter((f) => !v.hiddenFieldIds?.includes(f.id)).map((f) => f.id);
      }
      return view;
    }),
  };
  if (t.description) out.description = t.description;
  return out;
}
