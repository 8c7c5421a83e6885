/** What "empty" means for a REST cell: omitted from answers (docs/airtable-reference.md §1.1). */
export function isEmptyCell(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0);
}

/** Types whose values Airtable computes; writing them is refused (docs/airtable-reference.md §1.4). */
export const COMPUTED_TYPES = new Set([
  'formula',
  'rollup',
  'count',
  'multipleLookupValues',
  'lookup',
  'autoNumber',
  'createdTime',
  'lastModifiedTime',
  'createdBy',
  'lastModifiedBy',
  'button',
  'aiText',
  'externalSyncSource',
  'manualSort',
]);

export function isComputedType(type: string): boolean {
  return COMPUTED_TYPES.has(type);
}

/** Cheap structural equality for JSON-shaped cell values. */
export function sameCell(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (isEmptyCell(a) && isEmptyCell(b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
