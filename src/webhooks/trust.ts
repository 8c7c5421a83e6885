import type { AirtableRecord } from '../airtable/types.ts';
import type { Queryable } from '../db/database.ts';
import { createdTimesOf, fencedSince } from '../mirror/index.ts';
import type { TableMapping } from '../mirror/types.ts';
import { payloadRecordToRest, type PayloadRecord } from './payload-records.ts';

export interface TrustSplit {
  /** Records applied from the payloads' own cell values (no Airtable call). */
  trusted: AirtableRecord[];
  /** Ids whose payload cannot be trusted to be complete: fetched, many per request. */
  fetch: string[];
}

/**
 * Splits a table's changed/created ids into records the payloads fully describe and ids to fetch
 * (issue 17: "fetch records only when a payload cannot be trusted to be complete"). Fetched are:
 * - a changed record lacking a mirrored field (a hook made without `includeCellValuesInFieldIds`,
 *   a field the payload does not carry) or holding a value of a shape we cannot convert;
 * - a changed record the mirror does not hold (missed data: its creation was never applied);
 * - a record the proxy wrote since the last drain (`fencedAfter`): the payloads read now may be
 *   older than that write, and applying them would roll it back until its own payload arrives.
 */
export async function splitTrusted(
  q: Queryable,
  sourceId: string,
  table: TableMapping,
  ids: Iterable<string>,
  records: Map<string, PayloadRecord> | undefined,
  fencedAfter: string | undefined,
): Promise<TrustSplit> {
  const wanted = [...ids];
  const out: TrustSplit = { trusted: [], fetch: [] };
  if (wanted.length === 0) return out;
  const recent = new Set(
    fencedAfter === undefined ? [] : await fencedSince(q, sourceId, table.tableId, fencedAfter),
  );
  const changedIds = wanted.filter((id) => records?.get(id) && !records.get(id)!.created);
  const times = changedIds.length > 0 ? await createdTimesOf(q, table, changedIds) : new Map();
  for (const id of wanted) {
    const r = records?.get(id);
    const rest = r && !recent.has(id) ? payloadRecordToRest(table, id, r, times.get(id)) : undefined;
    if (rest) out.trusted.push(rest);
    else out.fetch.push(id);
  }
  return out;
}
