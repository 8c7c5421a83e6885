import type { AirtableRecord, WebhookPayload } from '../airtable/types.ts';
import type { TableMapping } from '../mirror/types.ts';
import { restCell } from './payload-cells.ts';

/**
 * What a run of payloads says each record looks like now (docs/airtable-reference.md §4.7), folded
 * in cursor order: a created record's cells, then the changed cells (`current`) and the cells the
 * specification asks for with every change (`unchanged`, §4.2 `includeCellValuesInFieldIds`).
 */
export interface PayloadRecord {
  /** Known for records created in the run; otherwise the mirror's row has it. */
  createdTime?: string;
  /** V2 cell values by field id; `null` is an empty cell. */
  cells: Record<string, unknown>;
  /**
   * Created in the run: every non-empty cell is there, so a missing key is an empty cell (the
   * emulator's choice, docs/airtable-reference.md §4.7). A changed record is complete only when
   * every mirrored field is present (with `includeCellValuesInFieldIds: "all"` each comes along).
   */
  created: boolean;
}

/** table id → record id → the record as the payloads leave it. Destroyed records are dropped. */
export type PayloadRecords = Map<string, Map<string, PayloadRecord>>;

export function foldPayloadRecords(payloads: readonly WebhookPayload[]): PayloadRecords {
  const out: PayloadRecords = new Map();
  const tableOf = (tableId: string) => {
    let t = out.get(tableId);
    if (!t) out.set(tableId, (t = new Map()));
    return t;
  };
  for (const p of payloads) {
    if (p.error) continue;
    for (const tableId of p.destroyedTableIds ?? []) out.delete(tableId);
    for (const [tableId, t] of Object.entries(p.changedTablesById ?? {})) {
      if (!t) continue;
      const records = tableOf(tableId);
      for (const [id, r] of Object.entries(t.createdRecordsById ?? {})) {
        records.set(id, {
          createdTime: typeof r?.createdTime === 'string' ? r.createdTime : undefined,
          cells: { ...(r?.cellValuesByFieldId ?? {}) },
          created: true,
        });
      }
      for (const [id, r] of Object.entries(t.changedRecordsById ?? {})) {
        const before = records.get(id) ?? { cells: {}, created: false };
        // `unchanged` first: a cell of `current` is the change itself and wins.
        before.cells = {
          ...before.cells,
          ...(r?.unchanged?.cellValuesByFieldId ?? {}),
          ...(r?.current?.cellValuesByFieldId ?? {}),
        };
        records.set(id, before);
      }
      for (const id of t.destroyedRecordIds ?? []) records.delete(id);
    }
  }
  return out;
}

/**
 * The REST record a payload record stands for, when it can be trusted to be whole for this
 * mirror table: every mirrored field present (or the record created in the run) and every value
 * convertible. Undefined means "fetch it". `createdTime` comes from the caller (the mirror row)
 * for changed records.
 */
export function payloadRecordToRest(
  table: TableMapping,
  id: string,
  r: PayloadRecord,
  createdTime: string | undefined,
): AirtableRecord | undefined {
  const time = r.createdTime ?? createdTime;
  if (time === undefined) return undefined;
  const fields: Record<string, unknown> = {};
  for (const col of table.columns) {
    const present = Object.prototype.hasOwnProperty.call(r.cells, col.fieldId);
    if (!present && !r.created) return undefined; // a field the payload lacks
    const cell = present ? restCell(col.field, r.cells[col.fieldId]) : { value: undefined };
    if (cell === undefined) return undefined;
    if (cell.value !== undefined) fields[col.fieldId] = cell.value;
  }
  return { id, createdTime: time, fields };
}
