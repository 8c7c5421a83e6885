import type { ConvertedRecord, TableMapping } from './types.ts';

/**
 * Converted rows (convert.ts) in Postgres' COPY text format, the default of `COPY … FROM STDIN`:
 * one line per row, columns separated by a tab, NULL spelled `\N`, and backslash, newline,
 * carriage return and tab written as `\\`, `\n`, `\r`, `\t`. Each value is what its column's input
 * function reads — the same text the write path's jsonb rows carry — so a row copied in is
 * identical to one upserted (test/mirror/copy-text.test.ts compares them column by column).
 */

const SPECIAL = /[\\\n\r\t]/;
const SPECIAL_ALL = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One value as a COPY text field. */
export function copyField(s: string): string {
  return SPECIAL.test(s) ? s.replace(SPECIAL_ALL, (c) => ESCAPES[c]) : s;
}

const ARRAY_SPECIAL = /["\\]/g;

/**
 * A text[] value as an array literal, every element quoted (so NULL, braces, commas and spaces
 * inside it stay text), `"` and `\` escaped by a backslash.
 */
export function arrayLiteral(items: readonly string[]): string {
  let s = '{';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) s += ',';
    s += `"${items[i].replace(ARRAY_SPECIAL, '\\$&')}"`;
  }
  return `${s}}`;
}

/** The COPY column list of a mirror table, in the order copyLine writes them. */
export function copyColumns(table: TableMapping): string[] {
  return ['id', 'created_time', ...table.columns.map((c) => c.column)];
}

/** One converted row as a line (with its newline). Values are pg-ready (convert.ts): string, boolean, string[] or null. */
export function copyLine(r: ConvertedRecord): string {
  let s = `${copyField(r.id)}\t${copyField(r.createdTime)}`;
  const values = r.values;
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    if (v === null || v === undefined) s += '\t\\N';
    else if (typeof v === 'string') s += `\t${copyField(v)}`;
    else if (typeof v === 'boolean') s += v ? '\tt' : '\tf';
    else if (Array.isArray(v)) s += `\t${copyField(arrayLiteral(v as string[]))}`;
    else throw new TypeError(`column ${k} of record ${r.id} holds a ${typeof v}, not a pg-ready value`);
  }
  return `${s}\n`;
}
