import { describe, expect, it } from 'vitest';
import type { AirtableField } from '../../src/airtable/types.ts';
import { convertCell, convertRecord } from '../../src/mirror/convert.ts';
import { buildBaseMapping } from '../../src/mirror/mapping.ts';
import { UnknownFieldError, type TableMapping } from '../../src/mirror/types.ts';
import { allTypesSchema, fullRecord } from './fixtures.ts';

const table: TableMapping = buildBaseMapping('public', allTypesSchema()).tables[0];
const valueOf = (values: unknown[], column: string) =>
  values[table.columns.findIndex((c) => c.column === column)];

function one(field: Omit<AirtableField, 'id' | 'name'>, cell: unknown) {
  const t = buildBaseMapping('s', {
    tables: [
      {
        id: 'tblX',
        name: 'X',
        primaryFieldId: 'fldA',
        views: [],
        fields: [{ id: 'fldA', name: 'A', ...field }],
      },
    ],
  }).tables[0];
  const r = convertRecord(t, {
    id: 'recA',
    createdTime: '2022-09-12T21:03:48.000Z',
    fields: cell === undefined ? {} : { fldA: cell },
  });
  return { value: r.values[0], errors: r.cellErrors };
}

describe('convertRecord', () => {
  it('converts a full record of every field type to pg-ready values', () => {
    const r = convertRecord(table, fullRecord());
    expect(r.id).toBe('rec560UJdUtocSouk');
    expect(r.createdTime).toBe('2022-09-12T21:03:48.000Z');
    expect(r.cellErrors).toBe(0);
    expect(r.values).toHaveLength(table.columns.length);
    const v = (c: string) => valueOf(r.values, c);
    expect(v('name')).toBe('Union Square');
    expect(v('number')).toBe('0.1234567891234');
    expect(v('percent')).toBe('0.123');
    expect(v('rating')).toBe('4');
    expect(v('duration')).toBe('3600');
    expect(v('done')).toBe(true);
    expect(v('due')).toBe('2024-02-29');
    expect(v('starts_at')).toBe('2022-09-05T07:00:00.000Z');
    expect(v('tags')).toEqual(['One', 'Two']);
    expect(v('district')).toEqual(['rec3lbPRG4aVqkeOQ']);
    expect(JSON.parse(v('owner') as string)).toEqual({
      id: 'usr00000000000000',
      email: 'foo@bar.com',
      name: 'Foo',
    });
    expect(JSON.parse(v('pictures') as string)[0].id).toBe('att9cLoTiK3ewJMMF');
    expect(JSON.parse(v('lookup_multi_select') as string)).toEqual(['One', 'Two']);
    expect(JSON.parse(v('mystery') as string)).toEqual({ some: ['thing'] });
    expect(v('formula_na_n')).toBe('7');
    expect(v('auto')).toBe('42');
  });

  it('turns absent cells into NULL and an absent checkbox into false', () => {
    const r = convertRecord(table, { id: 'recEmpty', createdTime: '2022-09-12T21:03:48.000Z', fields: {} });
    expect(r.cellErrors).toBe(0);
    table.columns.forEach((c, i) => expect(r.values[i]).toBe(c.column === 'done' ? false : null));
  });

  it('nulls and counts formula/rollup errors and special values (docs/airtable-reference.md §6 fixtures)', () => {
    const rec = fullRecord();
    rec.fields.fldBeqw3negrW9MMK = { specialValue: 'NaN' };
    rec.fields.fldSTbXQ3nFW18CG5 = { error: '#ERROR!' };
    rec.fields.fldFormulaText001 = { error: '#ERROR!' };
    // a lookup of an error stays as data: the column is jsonb and the array is the value
    rec.fields.fldwYZ0pPzf0uvyg7 = [{ error: '#ERROR!' }];
    const r = convertRecord(table, rec);
    expect(r.cellErrors).toBe(3);
    expect(valueOf(r.values, 'formula_na_n')).toBeNull();
    expect(valueOf(r.values, 'rollup_error')).toBeNull();
    expect(valueOf(r.values, 'formula_text')).toBeNull();
    expect(JSON.parse(valueOf(r.values, 'lookup_multi_select') as string)).toEqual([{ error: '#ERROR!' }]);
  });

  it('nulls and counts a value that does not fit its column instead of failing', () => {
    const rec = fullRecord();
    rec.fields.fldBeqw3negrW9MMK = 'now a string'; // formula whose result type changed
    rec.fields.fldDate0000000001 = '2023-02-30';
    rec.fields.fldDateTime000001 = 'yesterday';
    rec.fields.fldRating00000001 = 4.5;
    rec.fields.fldMulti000000001 = 'One';
    rec.fields.fldCheckbox000001 = 'yes';
    const r = convertRecord(table, rec);
    expect(r.cellErrors).toBe(6);
    expect(valueOf(r.values, 'formula_na_n')).toBeNull();
    expect(valueOf(r.values, 'due')).toBeNull();
    expect(valueOf(r.values, 'starts_at')).toBeNull();
    expect(valueOf(r.values, 'rating')).toBeNull();
    expect(valueOf(r.values, 'tags')).toBeNull();
    expect(valueOf(r.values, 'done')).toBe(false); // NOT NULL column: a bad checkbox reads as unchecked
  });

  it('reads records keyed by field name and rejects unknown names with UnknownFieldError', () => {
    const r = convertRecord(
      table,
      {
        id: 'recA',
        createdTime: '2022-09-12T21:03:48.000Z',
        fields: { Name: 'A', Done: true, 'Starts At': '2022-01-01T00:00:00.000Z' },
      },
      'name',
    );
    expect(valueOf(r.values, 'name')).toBe('A');
    expect(valueOf(r.values, 'done')).toBe(true);
    expect(valueOf(r.values, 'starts_at')).toBe('2022-01-01T00:00:00.000Z');
    const unknown = {
      id: 'recA',
      createdTime: '2022-09-12T21:03:48.000Z',
      fields: { Name: 'A', 'Brand new': 1 },
    };
    expect(() => convertRecord(table, unknown, 'name')).toThrow(UnknownFieldError);
    try {
      convertRecord(table, unknown, 'name');
    } catch (err) {
      expect(err).toMatchObject({ tableId: table.tableId, fieldName: 'Brand new', code: 'UNKNOWN_FIELD' });
    }
    // keyed by id, a field the mapping does not know yet is ignored (the schema check rebuilds)
    expect(convertRecord(table, { ...unknown, fields: { fldNEW: 1 } }).cellErrors).toBe(0);
  });

  it('refuses a record without a usable createdTime', () => {
    expect(() => convertRecord(table, { id: 'recA', createdTime: 'nope', fields: {} })).toThrow(
      /createdTime/,
    );
  });
});

describe('convertCell by type', () => {
  it.each([
    // [field config, cell, expected value, expected errors]
    [{ type: 'number' }, 1e21, '1e+21', 0],
    [{ type: 'number' }, -0.000001, '-0.000001', 0],
    [{ type: 'number' }, JSON.parse('12345678901234567890'), '12345678901234567000', 0],
    [{ type: 'currency' }, '12.345678901234567890123', '12.345678901234567890123', 0],
    [{ type: 'number' }, 'abc', null, 1],
    [{ type: 'percent' }, true, null, 1],
    [{ type: 'autoNumber' }, 2 ** 53, '9007199254740992', 0],
    [{ type: 'count' }, '9223372036854775808', null, 1],
    [{ type: 'count' }, '-9223372036854775808', '-9223372036854775808', 0],
    [{ type: 'checkbox' }, true, true, 0],
    [{ type: 'checkbox' }, undefined, false, 0],
    [{ type: 'checkbox' }, false, false, 0],
    [{ type: 'date' }, '2024-02-29', '2024-02-29', 0],
    [{ type: 'date' }, '2023-02-29', null, 1],
    [{ type: 'date' }, '2024-02-29T00:00:00.000Z', null, 1],
    [{ type: 'dateTime' }, '2022-09-05T07:00:00.000Z', '2022-09-05T07:00:00.000Z', 0],
    [{ type: 'dateTime' }, '2022-09-05T07:00:00+02:00', '2022-09-05T07:00:00+02:00', 0],
    [{ type: 'dateTime' }, '2022-09-05T25:00:00.000Z', null, 1],
    [{ type: 'dateTime' }, '2022-09-05', null, 1],
    [{ type: 'createdTime', options: { result: { type: 'date' } } }, '2022-09-05', '2022-09-05', 0],
    [{ type: 'singleSelect' }, 'Todo', 'Todo', 0],
    [{ type: 'singleSelect' }, { id: 'selA', name: 'Todo', color: 'blueLight2' }, 'Todo', 0], // V2 shape
    [{ type: 'multipleSelects' }, [{ id: 'selA', name: 'A' }, 'B'], ['A', 'B'], 0],
    [{ type: 'multipleSelects' }, [], null, 0],
    [{ type: 'multipleRecordLinks' }, ['recA', 'recB'], ['recA', 'recB'], 0],
    [{ type: 'multipleRecordLinks' }, [{ id: 'recA', name: 'A' }], ['recA'], 0], // V2 shape
    [{ type: 'multipleRecordLinks' }, [1, 2], null, 1],
    [{ type: 'singleLineText' }, 'a\u0000b', null, 1],
    [{ type: 'singleLineText' }, 'a\uD800b', 'a\uFFFDb', 0],
    [{ type: 'singleLineText' }, 42, null, 1],
    [{ type: 'richText' }, '# Title\n\n**bold**', '# Title\n\n**bold**', 0],
    [{ type: 'barcode' }, { text: '12345', type: null }, '{"text":"12345","type":null}', 0],
    [{ type: 'button' }, { label: 'Go', url: 'https://x' }, '{"label":"Go","url":"https://x"}', 0],
    [
      { type: 'aiText' },
      { state: 'error', errorType: 'x', isStale: true, value: null },
      '{"state":"error","errorType":"x","isStale":true,"value":null}',
      0,
    ],
    [{ type: 'multipleCollaborators' }, [{ id: 'usr1' }], '[{"id":"usr1"}]', 0],
    [{ type: 'manualSort', options: null }, 3, '3', 0],
    [{ type: 'somethingUnrecognizable' }, 'x\u0000', null, 1],
    [{ type: 'somethingUnrecognizable' }, { a: 1 }, '{"a":1}', 0],
    [{ type: 'formula', options: { result: { type: 'checkbox' } } }, true, true, 0],
    [{ type: 'formula', options: { result: { type: 'checkbox' } } }, { error: '#ERROR!' }, null, 1],
    [{ type: 'formula', options: { result: { type: 'multipleSelects' } } }, ['a', 'b'], ['a', 'b'], 0],
    [{ type: 'formula', options: { result: null } }, { error: '#ERROR!' }, null, 1],
    [{ type: 'formula', options: { result: null } }, [1, 'x'], '[1,"x"]', 0],
    [{ type: 'rollup', options: { result: { type: 'number' } } }, { specialValue: 'Infinity' }, null, 1],
    [
      { type: 'rollup', options: { result: { type: 'dateTime' } } },
      '2022-01-01T00:00:00.000Z',
      '2022-01-01T00:00:00.000Z',
      0,
    ],
  ] as Array<[Omit<AirtableField, 'id' | 'name'>, unknown, unknown, number]>)(
    '%j %j',
    (field, cell, value, errors) => {
      expect(one(field, cell)).toEqual({ value, errors });
    },
  );

  it('treats null like an absent cell (webhook V2 cleared cells)', () => {
    expect(convertCell({ pgType: 'text', airtableType: 'singleLineText' }, null)).toBeNull();
    expect(convertCell({ pgType: 'boolean', airtableType: 'checkbox' }, null)).toBe(false);
  });
});
