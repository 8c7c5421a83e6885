import type { AirtableRecord } from '../src/airtable/types.ts';

/** A records-API write the mirror must follow (docs/airtable-reference.md §1.3–§1.6). */
export interface WriteIntent {
  kind: 'create' | 'update' | 'delete';
  baseId: string;
  /** Decoded table id or name, as the app addressed it. */
  tableIdOrName: string;
  /** Set for the single-record routes `/{table}/{recordId}`. */
  recordId?: string;
}

const BASE_ID = /^app[A-Za-z0-9]{14}$/;
const WRITE_METHODS = new Set(['POST', 'PATCH', 'PUT', 'DELETE']);

export const isWriteMethod = (method: string) => WRITE_METHODS.has(method);

/**
 * Which record write a request is, from its method and raw path (`/v0/...`), or null for
 * anything else (reads, `listRecords`, meta and webhook routes, non-base paths). airtable.js
 * adds a trailing `/` to create and batch update paths, so one empty last segment is ignored.
 */
export function classifyWrite(method: string, path: string): WriteIntent | null {
  if (!isWriteMethod(method)) return null;
  const segments = path.split('/').slice(2); // drop '' and 'v0'
  if (segments.length > 1 && segments[segments.length - 1] === '') segments.pop();
  if (segments.length < 2 || segments.length > 3) return null;
  const [baseId, rawTable, recordId] = segments;
  if (!BASE_ID.test(baseId) || rawTable === '') return null;
  let tableIdOrName: string;
  try {
    tableIdOrName = decodeURIComponent(rawTable);
  } catch {
    return null;
  }
  if (recordId === undefined) {
    if (method === 'POST') return { kind: 'create', baseId, tableIdOrName };
    if (method === 'DELETE') return { kind: 'delete', baseId, tableIdOrName };
    return { kind: 'update', baseId, tableIdOrName };
  }
  if (recordId === '' || method === 'POST') return null; // POST …/listRecords is a read
  if (method === 'DELETE') return { kind: 'delete', baseId, tableIdOrName, recordId };
  return { kind: 'update', baseId, tableIdOrName, recordId };
}

/**
 * Whether the answer is keyed by field id: `returnFieldsByFieldId` in the JSON body or the
 * query (airtable.js sends `true`, pyairtable `1`; docs/airtable-reference.md §1.1).
 */
export function keyedByFromRequest(query: string, body: unknown): 'id' | 'name' {
  const truthy = (v: unknown) => v === true || v === 1 || v === 'true' || v === '1';
  if (body && typeof body === 'object' && truthy((body as Record<string, unknown>).returnFieldsByFieldId)) {
    return 'id';
  }
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  return truthy(params.get('returnFieldsByFieldId')) ? 'id' : 'name';
}

export interface WriteOutcome {
  records: AirtableRecord[];
  deletedIds: string[];
}

function isRecord(v: unknown): v is AirtableRecord {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.id === 'string' &&
    typeof r.createdTime === 'string' &&
    !!r.fields &&
    typeof r.fields === 'object'
  );
}

function isDeleted(v: unknown): v is { id: string; deleted: true } {
  return (
    !!v &&
    typeof v === 'object' &&
    typeof (v as { id?: unknown }).id === 'string' &&
    (v as { deleted?: unknown }).deleted === true
  );
}

/**
 * What a 2xx answer says happened: `{records:[…]}` (batch create/update/upsert), a bare record
 * (single create/update), `{id, deleted:true}` or `{records:[{id, deleted:true}]}` (docs/airtable-reference.md
 * §1.3–§1.6). Returns null when the body is none of these.
 */
export function parseWriteOutcome(body: unknown): WriteOutcome | null {
  if (!body || typeof body !== 'object') return null;
  if (isDeleted(body)) return { records: [], deletedIds: [body.id] };
  if (isRecord(body)) return { records: [body], deletedIds: [] };
  const list = (body as { records?: unknown }).records;
  if (!Array.isArray(list)) return null;
  const out: WriteOutcome = { records: [], deletedIds: [] };
  for (const item of list) {
    if (isDeleted(item)) out.deletedIds.push(item.id);
    else if (isRecord(item)) out.records.push(item);
    else return null;
  }
  return out;
}
