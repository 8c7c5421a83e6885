import { http, HttpResponse } from 'msw';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import { API } from './msw-fetch.ts';

export const BASE = 'appAAAAAAAAAAAAAA';
export const OTHER_BASE = 'appBBBBBBBBBBBBBB';
export const TABLE = 'tblTTTTTTTTTTTTTT';

export function recordId(i: number): string {
  return `rec${String(i).padStart(14, '0')}`;
}

export function makeRecords(n: number): AirtableRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: recordId(i),
    createdTime: '2022-09-12T21:03:48.000Z',
    fields: { fldNAME000000000: `row ${i}` },
  }));
}

/**
 * A minimal list-records endpoint (GET and POST listRecords) over a fixed record list: pages of
 * `pageSize`, an opaque `offset`, and `OR(RECORD_ID()='…')` filters. Stands in until the
 * project's emulator lands; the emulator tests cover the real thing.
 */
export function listRecordsHandlers(records: AirtableRecord[]) {
  const answer = (params: { pageSize?: number; offset?: string; filterByFormula?: string }) => {
    let rows = records;
    if (params.filterByFormula?.includes('RECORD_ID()')) {
      const wanted = new Set(
        [...params.filterByFormula.matchAll(/RECORD_ID\(\)='([^']*)'/g)].map((m) => m[1]),
      );
      rows = rows.filter((r) => wanted.has(r.id));
    }
    const start = params.offset ? Number(params.offset.split('/')[1].slice(3)) : 0;
    const size = Math.min(params.pageSize ?? 100, 100);
    const page = rows.slice(start, start + size);
    const next = start + size < rows.length ? `itrXXXXXXXXXXXXXX/rec${start + size}` : undefined;
    return HttpResponse.json({ records: page, ...(next ? { offset: next } : {}) });
  };
  return [
    http.get(`${API}/v0/${BASE}/${TABLE}`, ({ request }) => {
      const q = new URL(request.url).searchParams;
      return answer({
        pageSize: q.has('pageSize') ? Number(q.get('pageSize')) : undefined,
        offset: q.get('offset') ?? undefined,
        filterByFormula: q.get('filterByFormula') ?? undefined,
      });
    }),
    http.post(`${API}/v0/${BASE}/${TABLE}/listRecords`, async ({ request }) =>
      answer((await request.json()) as object),
    ),
  ];
}
