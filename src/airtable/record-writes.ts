import type { AirtableClient, CallOptions } from './client.ts';
import type { AirtableRecord } from './types.ts';

/**
 * Record writes (docs/airtable-reference.md §1.3, §1.4, §1.6) for callers that write on their
 * own account (the Postgres endpoint): at most 10 records per request, fields keyed by field id
 * and answers keyed by field id too (`returnFieldsByFieldId`), so renamed fields never matter.
 * Never retried when the outcome is unknown (a timeout or a 500 may have been applied): the
 * caller decides what to do, Airtable's refusal comes back as the client's AirmirrorError.
 */

/** Records per create/update/delete request (§2.2). */
export const MAX_RECORDS_PER_WRITE = 10;

export interface WriteCallOptions extends CallOptions {
  /** Best-effort conversion; also creates missing select options (§1.3). Default false. */
  typecast?: boolean;
}

const path = (baseId: string, tableId: string) =>
  `/v0/${encodeURIComponent(baseId)}/${encodeURIComponent(tableId)}`;

function checkSize(n: number): void {
  if (n < 1 || n > MAX_RECORDS_PER_WRITE) {
    throw new RangeError(`a record write takes 1 to ${MAX_RECORDS_PER_WRITE} records, got ${n}`);
  }
}

/** POST: creates the records, answered in the order sent. */
export async function createRecords(
  client: AirtableClient,
  baseId: string,
  tableId: string,
  records: Array<{ fields: Record<string, unknown> }>,
  opts: WriteCallOptions = {},
): Promise<AirtableRecord[]> {
  checkSize(records.length);
  const r = await client.request<{ records: AirtableRecord[] }>('POST', path(baseId, tableId), {
    ...opts,
    baseId,
    idempotent: false,
    body: { records, typecast: opts.typecast ?? false, returnFieldsByFieldId: true },
  });
  return r.records;
}

/** PATCH: changes only the fields sent; the answer carries whole records (§1.4). */
export async function updateRecords(
  client: AirtableClient,
  baseId: string,
  tableId: string,
  records: Array<{ id: string; fields: Record<string, unknown> }>,
  opts: WriteCallOptions = {},
): Promise<AirtableRecord[]> {
  checkSize(records.length);
  const r = await client.request<{ records: AirtableRecord[] }>('PATCH', path(baseId, tableId), {
    ...opts,
    baseId,
    idempotent: false,
    body: { records, typecast: opts.typecast ?? false, returnFieldsByFieldId: true },
  });
  return r.records;
}

/** DELETE `?records[]=…`: the ids Airtable reports deleted. */
export async function deleteRecords(
  client: AirtableClient,
  baseId: string,
  tableId: string,
  ids: string[],
  opts: CallOptions = {},
): Promise<string[]> {
  checkSize(ids.length);
  const query = ids.map((id) => `records%5B%5D=${encodeURIComponent(id)}`).join('&');
  const r = await client.request<{ records: Array<{ id: string; deleted: boolean }> }>(
    'DELETE',
    path(baseId, tableId),
    { ...opts, baseId, query, idempotent: false },
  );
  return r.records.filter((x) => x.deleted).map((x) => x.id);
}
