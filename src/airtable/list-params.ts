/**
 * Serialising list-records options for the GET query string and the POST `listRecords` body
 * (docs/airtable-reference.md §1.1). Query keys follow ajs/pya: `fields[]=…`, `sort[0][field]=…`.
 */

export interface ListRecordsParams {
  /** Records per page, max 100 (docs/airtable-reference.md §2.2). */
  pageSize?: number;
  offset?: string;
  filterByFormula?: string;
  fields?: string[];
  sort?: Array<{ field: string; direction?: 'asc' | 'desc' }>;
  view?: string;
  maxRecords?: number;
  /** Key `fields` by field id; defaults to true here, because a mirror should always use it (docs/airtable-reference.md §1.1). */
  returnFieldsByFieldId?: boolean;
}

/** ajs switches to POST `listRecords` above 15,000 chars; Airtable rejects URLs ≥ 16,000 (docs/airtable-reference.md §1.1). */
export const MAX_GET_URL_LENGTH = 15_000;
const OFFSET_ALLOWANCE = 120;

/**
 * RFC 3986 strict encoding: also `!'()*`, which encodeURIComponent leaves alone but the WHATWG URL
 * parser escapes in query strings — so the length measured here is the length on the wire.
 */
export function enc(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function listRecordsQuery(params: ListRecordsParams): string {
  const parts: string[] = [];
  if (params.pageSize !== undefined) parts.push(`pageSize=${params.pageSize}`);
  if (params.maxRecords !== undefined) parts.push(`maxRecords=${params.maxRecords}`);
  if (params.offset !== undefined) parts.push(`offset=${enc(params.offset)}`);
  if (params.view !== undefined) parts.push(`view=${enc(params.view)}`);
  for (const f of params.fields ?? []) parts.push(`${enc('fields[]')}=${enc(f)}`);
  (params.sort ?? []).forEach((s, i) => {
    parts.push(`${enc(`sort[${i}][field]`)}=${enc(s.field)}`);
    if (s.direction) parts.push(`${enc(`sort[${i}][direction]`)}=${s.direction}`);
  });
  if (params.filterByFormula !== undefined) parts.push(`filterByFormula=${enc(params.filterByFormula)}`);
  parts.push(`returnFieldsByFieldId=${params.returnFieldsByFieldId ?? true}`);
  return parts.join('&');
}

export function listRecordsBody(params: ListRecordsParams): Record<string, unknown> {
  const body: Record<string, unknown> = { returnFieldsByFieldId: params.returnFieldsByFieldId ?? true };
  for (const key of [
    'pageSize',
    'maxRecords',
    'offset',
    'view',
    'fields',
    'sort',
    'filterByFormula',
  ] as const) {
    if (params[key] !== undefined) body[key] = params[key];
  }
  return body;
}

/** A string literal in Airtable's formula language: single-quoted, backslash escapes. */
export function formulaString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * Splits `ids` into `OR(RECORD_ID()='…',…)` formulas, each small enough that the GET URL built
 * from `baseUrl` + the other params stays within MAX_GET_URL_LENGTH. If the other params alone
 * leave no room (a huge `fields` list), batches fall back to `fallbackBatchSize` ids and the
 * client sends them through POST `listRecords`.
 */
export function recordIdFormulas(
  ids: readonly string[],
  baseUrl: string,
  params: ListRecordsParams,
  fallbackBatchSize = 300,
): string[] {
  const unique = [...new Set(ids)];
  // Later pages add `offset=…` (opaque, ~35 chars observed, docs/airtable-reference.md §0): leave room so they stay GETs too.
  const withOffset = { ...params, offset: 'x'.repeat(OFFSET_ALLOWANCE), filterByFormula: 'OR()' };
  const emptyUrlLength = `${baseUrl}?${listRecordsQuery(withOffset)}`.length;
  const room = MAX_GET_URL_LENGTH - emptyUrlLength;
  const formulas: string[] = [];
  let batch: string[] = [];
  let used = 0;
  const flush = () => {
    if (batch.length > 0) formulas.push(`OR(${batch.join(',')})`);
    batch = [];
    used = 0;
  };
  for (const id of unique) {
    const term = `RECORD_ID()=${formulaString(id)}`;
    const cost = enc(term).length + (batch.length > 0 ? enc(',').length : 0);
    const full = room > 0 ? used + cost > room : batch.length >= fallbackBatchSize;
    if (full && batch.length > 0) flush();
    batch.push(term);
    used += enc(term).length + (batch.length > 1 ? enc(',').length : 0);
  }
  flush();
  return formulas;
}
