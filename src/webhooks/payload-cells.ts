import type { AirtableField, FieldConfig } from '../airtable/types.ts';

/**
 * Webhook payload cells (V2) → the REST values a listing gives (docs/airtable-reference.md §3.3,
 * the "Webhook (V2)" column), so a payload applied through the write path leaves exactly the row
 * a sweep would: selects by name, links by id, lookups flattened, collaborators without the keys
 * V2 adds, and every empty value (null, "", [], false) left out as REST leaves it out (§1.1).
 *
 * `undefined` means "this value cannot be trusted to convert" (an unknown field type, a shape
 * that is not what §3.3 says): the record is then fetched instead.
 */
export type RestCell = { value: unknown } | undefined;

const SAME = new Set([
  'singleLineText',
  'multilineText',
  'richText',
  'email',
  'url',
  'phoneNumber',
  'number',
  'percent',
  'currency',
  'rating',
  'duration',
  'date',
  'dateTime',
  'multipleAttachments',
  'barcode',
  'button',
  'autoNumber',
  'createdTime',
  'lastModifiedTime',
  'formula',
  'rollup',
  'count',
  'aiText',
]);
const COLLABORATOR = new Set(['singleCollaborator', 'createdBy', 'lastModifiedBy']);
const CHOICE = new Set(['singleSelect', 'externalSyncSource']);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const EMPTY = { value: undefined };

/** REST leaves out "", [] and false (docs/airtable-reference.md §1.1). */
function rest(value: unknown): RestCell {
  if (value === null || value === undefined || value === '' || value === false) return EMPTY;
  if (Array.isArray(value) && value.length === 0) return EMPTY;
  return { value };
}

/** V2 collaborators add `permissionLevel?` and `profilePicUrl?` (§3.3); REST has neither. */
function collaborator(v: unknown): unknown {
  if (!isObject(v) || typeof v.id !== 'string') return undefined;
  const { permissionLevel: _p, profilePicUrl: _u, ...restOf } = v;
  return restOf;
}

function choiceName(v: unknown): unknown {
  if (typeof v === 'string') return v;
  return isObject(v) && typeof v.name === 'string' ? v.name : undefined;
}

function linkId(v: unknown): unknown {
  if (typeof v === 'string') return v;
  return isObject(v) && typeof v.id === 'string' ? v.id : undefined;
}

/** Maps each item; undefined when one of them cannot be converted. */
function mapAll(items: unknown[], one: (v: unknown) => unknown): unknown[] | undefined {
  const out: unknown[] = [];
  for (const item of items) {
    const v = one(item);
    if (v === undefined) return undefined;
    out.push(v);
  }
  return out;
}

/** One element of a lookup's flat array, shaped like its `result` type's REST value. */
function lookupItem(result: FieldConfig | null | undefined): ((v: unknown) => unknown) | undefined {
  const type = result?.type;
  if (type === undefined) return undefined;
  if (SAME.has(type) || type === 'checkbox') return (v) => v;
  if (CHOICE.has(type) || type === 'multipleSelects') return choiceName;
  if (type === 'multipleRecordLinks') return linkId;
  if (COLLABORATOR.has(type) || type === 'multipleCollaborators') return collaborator;
  return undefined; // a lookup of a lookup, or a type we do not know: fetch instead
}

function lookup(field: AirtableField, v: unknown): RestCell {
  const item = lookupItem(field.options?.result);
  if (!item) return undefined;
  let flat: unknown[];
  if (Array.isArray(v)) flat = v;
  else if (isObject(v) && Array.isArray(v.linkedRecordIds) && isObject(v.valuesByLinkedRecordId)) {
    const byId = v.valuesByLinkedRecordId;
    flat = [];
    for (const id of v.linkedRecordIds) {
      const values = typeof id === 'string' ? byId[id] : undefined;
      if (values === undefined) continue;
      if (!Array.isArray(values)) return undefined;
      flat.push(...values);
    }
  } else return undefined;
  const out = mapAll(flat, item);
  return out === undefined ? undefined : rest(out);
}

export function restCell(field: AirtableField, v2: unknown): RestCell {
  if (v2 === null || v2 === undefined) return EMPTY;
  const { type } = field;
  if (SAME.has(type)) return rest(v2);
  if (type === 'checkbox') return v2 === true ? { value: true } : v2 === false ? EMPTY : undefined;
  if (CHOICE.has(type)) {
    const name = choiceName(v2);
    return name === undefined ? undefined : rest(name);
  }
  if (COLLABORATOR.has(type)) {
    const c = collaborator(v2);
    return c === undefined ? undefined : { value: c };
  }
  if (type === 'multipleLookupValues') return lookup(field, v2);
  if (!Array.isArray(v2)) return undefined;
  const one =
    type === 'multipleSelects'
      ? choiceName
      : type === 'multipleRecordLinks'
        ? linkId
        : type === 'multipleCollaborators'
          ? collaborator
          : undefined;
  if (!one) return undefined;
  const out = mapAll(v2, one);
  return out === undefined ? undefined : rest(out);
}
