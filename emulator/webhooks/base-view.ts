import type { EmulatorStore } from '../store/store.ts';
import type { StoredField } from '../store/types.ts';

/**
 * The read-only slice of a base that payload building needs: field definitions (for V2 cell
 * values), current cells (for `unchanged` and lookups) and record names (for links). Kept as an
 * interface so the payload builder can be tested without a store.
 */
export interface BaseView {
  field(tableId: string, fieldId: string): StoredField | undefined;
  /** Current REST value of a cell, undefined when empty or the record is gone. */
  cell(tableId: string, recordId: string, fieldId: string): unknown;
  /** Field ids of a table, in schema order. */
  fieldIds(tableId: string): string[];
  /** The table a view belongs to. */
  tableOfView(viewId: string): string | undefined;
  hasTable(tableId: string): boolean;
  /** Whether a field id exists in any table of the base. */
  hasField(fieldId: string): boolean;
  primaryFieldId(tableId: string): string | undefined;
  collaborator(userId: string): { id: string; email: string; name: string } | undefined;
}

export function storeBaseView(store: EmulatorStore, baseId: string): BaseView {
  const base = () => store.bases.get(baseId);
  const table = (tableId: string) => base()?.tables.find((t) => t.id === tableId);
  return {
    field: (tableId, fieldId) => table(tableId)?.fieldById(fieldId),
    cell(tableId, recordId, fieldId) {
      const b = base();
      const t = table(tableId);
      const rec = t?.get(recordId);
      const f = t?.fieldById(fieldId);
      return b && t && rec && f ? store.reader.value(b, t, rec, f) : undefined;
    },
    fieldIds: (tableId) => table(tableId)?.fields.map((f) => f.id) ?? [],
    tableOfView: (viewId) => base()?.tables.find((t) => t.views.some((v) => v.id === viewId))?.id,
    hasTable: (tableId) => table(tableId) !== undefined,
    hasField: (fieldId) => base()?.tables.some((t) => t.fieldById(fieldId) !== undefined) ?? false,
    primaryFieldId: (tableId) => table(tableId)?.primaryFieldId,
    collaborator: (userId) => base()?.collaborators.find((c) => c.id === userId),
  };
}
