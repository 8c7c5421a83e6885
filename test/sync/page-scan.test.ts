import { describe, expect, it } from 'vitest';
import { hashText, recordHash } from '../../sync/hash-cache.ts';
import { scanListPage, scannedRecord } from '../../sync/page-scan.ts';
import { decodeSweepPage } from '../../sync/sweep.ts';

const records = [
  {
    id: 'recAAAAAAAAAAAAAA',
    createdTime: '2024-01-01T00:00:00.000Z',
    fields: {
      fldText: 'quote " backslash \\ brace } bracket ] comma ,',
      fldLinks: ['recBBBBBBBBBBBBBB', 'recCCCCCCCCCCCCCC'],
      fldUser: { id: 'usr1', email: 'a@example.com', name: 'A "B" C' },
      fldNum: -1.5e-7,
      fldBool: true,
      fldNull: null,
      fldNested: [{ a: [1, { b: '}]' }] }, []],
      fldUnicode: 'é 🎉 \u2028',
    },
  },
  { id: 'recDDDDDDDDDDDDDD', createdTime: '2024-01-02T00:00:00.000Z', fields: {} },
  { id: 'recEEEEEEEEEEEEEE', createdTime: '2024-01-03T00:00:00.000Z', fields: { fldEnd: '\\' } },
];

describe('scanListPage', () => {
  it('finds each record, its id and exactly its JSON text, and the offset', () => {
    const text = JSON.stringify({ records, offset: 'itrXXXXXXXXXXXXXX/recEEEEEEEEEEEEEE' });
    const page = scanListPage(text)!;
    expect(page.ids).toEqual(records.map((r) => r.id));
    expect(page.offset).toBe('itrXXXXXXXXXXXXXX/recEEEEEEEEEEEEEE');
    records.forEach((r, i) => {
      expect(text.slice(page.starts[i], page.ends[i])).toBe(JSON.stringify(r));
      expect(scannedRecord(page, i)).toEqual(r);
    });
  });

  it('follows other layouts: whitespace, the offset first, the id not first, escaped ids', () => {
    const text = `{ "offset" : "itr1/rec2" ,
      "records" : [ { "createdTime" : "2024-01-01T00:00:00.000Z", "fields" : { "a" : [ 1 , 2 ] },
        "id" : "rec\\u0041" } , {"id":"rec2","fields":{}} ] , "extra": {"x": [1]} }`;
    const page = scanListPage(text)!;
    expect(page.ids).toEqual(['recA', 'rec2']);
    expect(page.offset).toBe('itr1/rec2');
    expect(scannedRecord(page, 0)).toEqual({
      id: 'recA',
      createdTime: '2024-01-01T00:00:00.000Z',
      fields: { a: [1, 2] },
    });
  });

  it('reads a last page without offset and an empty page', () => {
    expect(scanListPage('{"records":[]}')).toMatchObject({ ids: [], offset: undefined });
    expect(scanListPage(JSON.stringify({ records: [records[1]] }))!.ids).toEqual([records[1].id]);
  });

  it('gives up (undefined) on bodies it does not follow, so the caller parses them', () => {
    for (const text of [
      '',
      '[]',
      '{"error":{"type":"X"}}',
      '{"records":{}}',
      '{"records":[{"fields":{}}]}', // no id
      '{"records":[{"id":1}]}', // id not a string
      '{"records":[{"id":"rec1"}]', // truncated
      '{"records":[{"id":"rec1"}]} trailing',
      '{"rec\\u006frds":[]}', // escaped key
      '{"records":[{"id":"rec1","fields":{"a":"unterminated}]}',
    ]) {
      expect(scanListPage(text), text).toBeUndefined();
    }
  });
});

describe('decodeSweepPage', () => {
  it('hashes each record exactly as recordHash hashes the parsed record', () => {
    const page = decodeSweepPage(JSON.stringify({ records, offset: 'itr1/rec1' }));
    expect(page.offset).toBe('itr1/rec1');
    expect(page.count).toBe(3);
    records.forEach((r, i) => {
      expect(page.id(i)).toBe(r.id);
      expect(page.hash(i)).toBe(recordHash(r));
      expect(page.record(i)).toEqual(r);
    });
  });

  it('falls back to JSON.parse for bodies the scanner does not follow, and throws on malformed ones', () => {
    const page = decodeSweepPage('{"records":[{"fields":{},"createdTime":"2024-01-01T00:00:00.000Z"}]}');
    expect(page.count).toBe(1);
    expect(page.record(0)).toEqual({ fields: {}, createdTime: '2024-01-01T00:00:00.000Z' });
    expect(() => decodeSweepPage('{"records":[')).toThrow();
    expect(() => decodeSweepPage('{"error":"NOT_FOUND"}')).toThrow(/without records/);
  });
});

describe('hashText', () => {
  it('sees a one-character change anywhere, and hashes a span like the same text alone', () => {
    const text = JSON.stringify(records[0]);
    const h = hashText(text);
    expect(Number.isSafeInteger(h)).toBe(true);
    for (let i = 0; i < text.length; i += 7) {
      const changed = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 1) + text.slice(i + 1);
      expect(hashText(changed)).not.toBe(h);
    }
    expect(hashText(`xx${text}yy`, 2, 2 + text.length)).toBe(h);
    expect(hashText(text + ' ')).not.toBe(h);
  });
});
