import { beforeAll, describe, expect, it } from 'vitest';
import type { AirtableRecord } from '../../src/airtable/types.ts';
import type { Database } from '../../src/db/database.ts';
import { quoteQualified } from '../../src/db/quote.ts';
import { sql } from '../../src/db/sql.ts';
import { arrayLiteral, copyField, copyLine } from '../../src/mirror/copy-text.ts';
import {
  applyRecords,
  buildBaseMapping,
  buildSwapSchema,
  createMirrorTables,
  type TableMapping,
} from '../../src/mirror/index.ts';
import { SwapFillBatch } from '../../src/mirror/swap-fill.ts';
import { createTestDatabase } from '../support/db.ts';
import { allTypesSchema, fullRecord } from './fixtures.ts';

describe('COPY text encoding', () => {
  it('escapes exactly backslash, newline, carriage return and tab', () => {
    expect(copyField('plain text, "quoted" {braced}')).toBe('plain text, "quoted" {braced}');
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('\\N')).toBe('\\\\N'); // the text \N, not NULL
  });

  it('quotes every array element and escapes its quotes and backslashes', () => {
    expect(arrayLiteral(['a', 'NULL', 'x,y', '{z}', ' sp '])).toBe('{"a","NULL","x,y","{z}"," sp "}');
    expect(arrayLiteral(['say "hi"', 'back\\slash'])).toBe('{"say \\"hi\\"","back\\\\slash"}');
  });

  it('writes NULL as \\N, booleans as t/f, one tab-separated line per row', () => {
    const line = copyLine({
      id: 'rec1',
      createdTime: '2024-01-01T00:00:00.000Z',
      values: [null, true, false, 'x\ty', ['a\\b']],
      cellErrors: 0,
    });
    expect(line).toBe('rec1\t2024-01-01T00:00:00.000Z\t\\N\tt\tf\tx\\ty\t{"a\\\\\\\\b"}\n');
  });

  it('refuses a value that is not pg-ready instead of writing something else', () => {
    expect(() => copyLine({ id: 'r', createdTime: 't', values: [42], cellErrors: 0 })).toThrow(/number/);
  });
});

/**
 * The rebuild's COPY and the write path's upsert must store the same row for the same record:
 * every field type of the fixtures, with the characters COPY's text format and array literals
 * treat specially in every kind of column.
 */
describe('a row copied in equals the row the write path upserts', () => {
  let db: Database;
  let table: TableMapping;
  const mapping = buildBaseMapping('copytext', allTypesSchema());

  beforeAll(async () => {
    ({ db } = await createTestDatabase());
    table = mapping.tables[0];
    await createMirrorTables(db, mapping);
    await buildSwapSchema(db, 'copytext', mapping);
  });

  const tricky = 'tab\there, newline\nthere, cr\r, backslash \\ and \\N, "quotes", {braces}, a,b, NULL, ✓ 🎉';
  const records = (): AirtableRecord[] => {
    const full = fullRecord('recFull');
    const odd = fullRecord('recOdd');
    Object.assign(odd.fields, {
      fldName0000000001: tricky,
      fldNotes000000001: `${tricky}\n\nsecond paragraph`,
      fldMulti000000001: ['NULL', 'a,b', '{x}', 'say "hi"', 'back\\slash', ' spaced ', 'tab\tin', '🎉'],
      fldLinks000000001: ['recA', 'recB'],
      fldCollab00000001: { id: 'usr1', email: 'e@x.com', name: tricky },
      fldUnknown0000001: { nested: [tricky, 1.5, null, true] },
      fldNumber00000001: -0.000001234,
      fldCheckbox000001: false,
    });
    const empty: AirtableRecord = { id: 'recEmpty', createdTime: '2021-01-01T00:00:00.000Z', fields: {} };
    const errors = fullRecord('recErrors');
    Object.assign(errors.fields, {
      fldBeqw3negrW9MMK: { specialValue: 'NaN' },
      fldSTbXQ3nFW18CG5: { error: '#ERROR!' },
      fldDate0000000001: 'not a date',
      fldName0000000001: 'nul\u0000byte',
    });
    return [full, odd, empty, errors];
  };

  const rows = async (schema: string) =>
    (
      await db.query<{ row: Record<string, unknown> }>(
        sql(`SELECT to_jsonb(t) AS row FROM ${quoteQualified(schema, table.table)} t ORDER BY id`),
      )
    ).rows.map((r) => r.row);

  it('for every field type and every special character', async () => {
    const upserted = await applyRecords(db, table, records(), { origin: 'sweep', sourceId: 'src_copytext' });
    const batch = new SwapFillBatch(table, 'copytext_swap');
    for (const r of records()) batch.add(r, 0);
    const copied = await batch.write(db);
    expect(copied.inserted).toBe(4);
    expect(copied.cellErrors).toBe(upserted.cellErrors);
    expect(copied.cellErrors).toBeGreaterThan(0);

    const viaWritePath = await rows('copytext');
    const viaCopy = await rows('copytext_swap');
    expect(viaCopy).toHaveLength(4);
    expect(viaCopy).toEqual(viaWritePath);
    // And the special characters really went through (not both paths dropping them alike).
    const odd = viaCopy.find((r) => r.id === 'recOdd')!;
    expect(Object.values(odd)).toContain(tricky);
    expect(Object.values(odd)).toContainEqual([
      'NULL',
      'a,b',
      '{x}',
      'say "hi"',
      'back\\slash',
      ' spaced ',
      'tab\tin',
      '🎉',
    ]);
  });
});
