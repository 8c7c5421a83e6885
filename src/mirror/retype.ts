/**
 * What a field's type change does to its column (docs/schema-changes.md, "the retype matrix").
 * Airtable converts the cells itself when a field changes type, so after any retype the table's
 * values are listed again (a full sweep through the write path, with change events for the rows
 * whose value differs); this decides only what happens to the column meanwhile:
 *
 * - `none`: same Postgres type and the same meaning (singleLineText ↔ multilineText, number ↔
 *   currency, …): only the comment and the mapping change;
 * - `cast`: `ALTER COLUMN … TYPE … USING col::type` in place, where the cast keeps every value and
 *   its meaning (bigint → numeric; a number, date or checkbox → single or long line text);
 * - `refill`: anything else (numbers to dates or to a select list, whose choices Airtable makes
 *   its own way; a select list to record links, any jsonb shape to another, a nullable boolean to
 *   a checkbox): the table is filled
 *   again beside the live one from Airtable and swapped in, its reader objects carried over.
 */
import { isNotNullBoolean } from './pg-types.ts';
import type { ColumnMapping } from './types.ts';

export type RetypeHow = 'none' | 'cast' | 'refill';

type Col = Pick<ColumnMapping, 'pgType' | 'airtableType'>;

const SCALARS = new Set(['numeric', 'bigint', 'boolean', 'date', 'timestamptz']);
/** Free-text types: Airtable turns any scalar into its text. A select list maps values onto choices. */
const FREE_TEXT = new Set(['singleLineText', 'multilineText']);

export function retypeHow(from: Col, to: Col): RetypeHow {
  if (from.pgType === to.pgType) {
    if (from.airtableType === to.airtableType) return 'none';
    // Same Postgres type, other meaning: select names vs record ids; one JSON shape vs another;
    // a nullable boolean vs a NOT NULL checkbox.
    if (from.pgType === 'text[]') {
      const links = (c: Col) => c.airtableType === 'multipleRecordLinks';
      return links(from) === links(to) ? 'none' : 'refill';
    }
    if (from.pgType === 'jsonb') return 'refill';
    if (from.pgType === 'boolean') {
      return isNotNullBoolean(from.airtableType) === isNotNullBoolean(to.airtableType) ? 'none' : 'refill';
    }
    return 'none';
  }
  if (from.pgType === 'bigint' && to.pgType === 'numeric') return 'cast';
  if (to.pgType === 'text' && FREE_TEXT.has(to.airtableType) && SCALARS.has(from.pgType)) return 'cast';
  return 'refill';
}

/** Whether the column's values must be listed again after the change (see the file comment). */
export function needsValues(from: Col, to: Col): boolean {
  return from.airtableType !== to.airtableType || from.pgType !== to.pgType;
}
