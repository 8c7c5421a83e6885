import { describe, expect, it } from 'vitest';
import type { AirtableField, BaseSchema } from '../../src/airtable/types.ts';
import { buildBaseMapping } from '../../src/mirror/mapping.ts';
import { fitIdentifier, snakeCase, swapSchemaName } from '../../src/mirror/naming.ts';
import { pgTypeFor } from '../../src/mirror/pg-types.ts';
import { schemaHash } from '../../src/mirror/schema-hash.ts';
import { allTypesSchema, FIELDS, TABLE_ID } from './fixtures.ts';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

function schemaWith(fieldNames: string[], tableName = 'Things'): BaseSchema {
  return {
    tables: [
      {
        id: 'tblAAAAAAAAAAAAAA',
        name: tableName,
        primaryFieldId: 'fld0',
        fields: fieldNames.map((name, i) => ({ id: `fld${i}`, name, type: 'singleLineText' })),
        views: [],
      },
    ],
  };
}

describe('snakeCase', () => {
  it.each([
    ['Name', 'name'],
    ['Created Time', 'created_time'],
    ['createdTime', 'created_time'],
    ['HTTPServer Port', 'http_server_port'],
    ['  Multiple   spaces -- and/punct. ', 'multiple_spaces_and_punct'],
    ['Café Crème', 'cafe_creme'],
    ['It\'s "quoted"', 'it_s_quoted'],
    ['Статус заказа', 'статус_заказа'],
    ['名前', '名前'],
    ['🚀 Launch 🚀', 'launch'],
    ['2024 Budget', '_2024_budget'],
    ['🙂🙃', ''],
    ['___', ''],
  ])('%j → %j', (input, expected) => {
    expect(snakeCase(input)).toBe(expected);
  });
});

describe('fitIdentifier', () => {
  it('keeps names up to 63 bytes and shortens longer ones with a stable hash', () => {
    const ok = 'a'.repeat(63);
    expect(fitIdentifier(ok)).toBe(ok);
    const long = 'b'.repeat(200);
    const fitted = fitIdentifier(long);
    expect(bytes(fitted)).toBeLessThanOrEqual(63);
    expect(fitted).toMatch(/^b+_[0-9a-f]{8}$/);
    expect(fitIdentifier(long)).toBe(fitted);
    expect(fitIdentifier(`${'b'.repeat(199)}c`)).not.toBe(fitted);
  });

  it('counts bytes, not characters, and never cuts a multi-byte character', () => {
    const fitted = fitIdentifier('я'.repeat(40)); // 80 bytes
    expect(bytes(fitted)).toBeLessThanOrEqual(63);
    expect(fitted).not.toContain('\uFFFD');
    expect(fitted.startsWith('я')).toBe(true);
  });

  it('keeps a suffix inside the limit', () => {
    const fitted = fitIdentifier('x'.repeat(70), '_12');
    expect(bytes(fitted)).toBeLessThanOrEqual(63);
    expect(fitted.endsWith('_12')).toBe(true);
  });

  it('names the swap schema within 63 bytes', () => {
    expect(swapSchemaName('public')).toBe('public_swap');
    expect(bytes(swapSchemaName('s'.repeat(63)))).toBeLessThanOrEqual(63);
  });
});

describe('buildBaseMapping', () => {
  it('maps every field type of the reference to its column type, in field order', () => {
    const m = buildBaseMapping('public', allTypesSchema());
    expect(m.schema).toBe('public');
    expect(m.tables).toHaveLength(1);
    const t = m.tables[0];
    expect(t).toMatchObject({
      tableId: TABLE_ID,
      tableName: 'Apartments',
      schema: 'public',
      table: 'apartments',
    });
    expect(t.columns.map((c) => c.fieldId)).toEqual(FIELDS.map((f) => f.id));
    const types = Object.fromEntries(t.columns.map((c) => [c.column, c.pgType]));
    expect(types).toEqual({
      name: 'text',
      notes: 'text',
      rich: 'text',
      email: 'text',
      url: 'text',
      phone: 'text',
      number: 'numeric',
      percent: 'numeric',
      currency: 'numeric',
      rating: 'bigint',
      duration: 'numeric',
      done: 'boolean',
      due: 'date',
      starts_at: 'timestamptz',
      status: 'text',
      tags: 'text[]',
      owner: 'jsonb',
      watchers: 'jsonb',
      district: 'text[]',
      pictures: 'jsonb',
      barcode: 'jsonb',
      button: 'jsonb',
      auto: 'bigint',
      created: 'timestamptz',
      last_modified: 'timestamptz',
      created_by: 'jsonb',
      modified_by: 'jsonb',
      formula_na_n: 'numeric',
      formula_text: 'text',
      rollup_error: 'numeric',
      count: 'bigint',
      lookup_multi_select: 'jsonb',
      source: 'text',
      summary: 'jsonb',
      manual_sort: 'jsonb',
      mystery: 'jsonb',
    });
    expect(t.columns[0]).toMatchObject({
      fieldName: 'Name',
      airtableType: 'singleLineText',
      field: FIELDS[0],
    });
  });

  it('types formulas and rollups by result type, falling back to jsonb', () => {
    const f = (result: unknown): AirtableField =>
      ({ id: 'fldX', name: 'X', type: 'formula', options: { result } }) as AirtableField;
    expect(pgTypeFor(f({ type: 'checkbox' }))).toBe('boolean');
    expect(pgTypeFor(f({ type: 'date' }))).toBe('date');
    expect(pgTypeFor(f({ type: 'multipleRecordLinks' }))).toBe('text[]');
    expect(pgTypeFor(f({ type: 'singleCollaborator' }))).toBe('jsonb');
    expect(pgTypeFor(f(null))).toBe('jsonb');
    expect(pgTypeFor({ type: 'formula' })).toBe('jsonb');
    expect(pgTypeFor({ type: 'rollup', options: { result: { type: 'currency' } } })).toBe('numeric');
    expect(pgTypeFor({ type: 'createdTime', options: { result: { type: 'date' } } })).toBe('date');
    expect(pgTypeFor({ type: 'createdTime' })).toBe('timestamptz');
    expect(pgTypeFor({ type: 'lastModifiedTime', options: { result: null } })).toBe('timestamptz');
  });

  it('gives colliding, reserved and system names a numeric suffix', () => {
    const m = buildBaseMapping(
      's',
      schemaWith(['Name', 'name', 'NAME!', 'id', 'Created Time', 'created_time', 'Order', 'select', 'xmin']),
    );
    expect(m.tables[0].columns.map((c) => c.column)).toEqual([
      'name',
      'name_2',
      'name_3',
      'id_2',
      'created_time_2',
      'created_time_3',
      'order_2',
      'select_2',
      'xmin_2',
    ]);
  });

  it('names emoji-only, empty and punctuation-only fields and tables with a fallback', () => {
    const m = buildBaseMapping('s', schemaWith(['🙂', '', '!!!', 'field'], '🎉'));
    expect(m.tables[0].table).toBe('untitled_table');
    expect(m.tables[0].columns.map((c) => c.column)).toEqual(['field', 'field_2', 'field_3', 'field_4']);
  });

  it('keeps 200-character names distinct and within 63 bytes', () => {
    const long = 'Very long field name '.repeat(10);
    const m = buildBaseMapping(
      's',
      schemaWith([long, `${long}2`, long.toUpperCase(), 'Ünïcödé '.repeat(25)]),
    );
    const cols = m.tables[0].columns.map((c) => c.column);
    expect(new Set(cols).size).toBe(4);
    for (const c of cols) expect(bytes(c)).toBeLessThanOrEqual(63);
    expect(cols[2].endsWith('_2')).toBe(true);
  });

  it('gives every table of a base a distinct name', () => {
    const base: BaseSchema = {
      tables: ['Users', 'users', 'User', 'Table'].map((name, i) => ({
        id: `tbl${i}`,
        name,
        primaryFieldId: 'fldA',
        fields: [{ id: 'fldA', name: 'Name', type: 'singleLineText' }],
        views: [],
      })),
    };
    expect(buildBaseMapping('s', base).tables.map((t) => t.table)).toEqual([
      'users',
      'users_2',
      'user_2',
      'table_2',
    ]);
  });

  it('names follow Airtable: a renamed field or table takes its new name, the others keep theirs', () => {
    const before = buildBaseMapping('s', schemaWith(['Name', 'Email', 'Phone']));
    const renamed = schemaWith(['Name', 'Contact email', 'Phone', 'Email']);
    renamed.tables[0].fields[3].id = 'fldNEW';
    renamed.tables[0].name = 'Renamed things';
    const after = buildBaseMapping('s', renamed, before);
    expect(after.tables[0].table).toBe('renamed_things');
    // The new "Email" takes the name the renamed field left: no email_2.
    expect(after.tables[0].columns.map((c) => [c.fieldId, c.column])).toEqual([
      ['fld0', 'name'],
      ['fld1', 'contact_email'],
      ['fld2', 'phone'],
      ['fldNEW', 'email'],
    ]);
    expect(after.tables[0].columns[1].fieldName).toBe('Contact email');
    // The same as without the previous mapping.
    expect(buildBaseMapping('s', renamed).tables[0].columns.map((c) => c.column)).toEqual([
      'name',
      'contact_email',
      'phone',
      'email',
    ]);
  });

  it('keeps a name while it still derives from the Airtable name, suffix included', () => {
    const before = buildBaseMapping('s', schemaWith(['Name', 'name', 'Phone']));
    expect(before.tables[0].columns.map((c) => c.column)).toEqual(['name', 'name_2', 'phone']);
    // fld0 is renamed away; fld1 keeps name_2 (it did not change), a case-only rename keeps its column.
    const next = schemaWith(['Full name', 'NAME', 'PHONE']);
    expect(buildBaseMapping('s', next, before).tables[0].columns.map((c) => c.column)).toEqual([
      'full_name',
      'name_2',
      'phone',
    ]);
  });

  it('two fields swapping names swap columns', () => {
    const before = buildBaseMapping('s', schemaWith(['Alpha', 'Beta']));
    const next = buildBaseMapping('s', schemaWith(['Beta', 'Alpha']), before);
    expect(next.tables[0].columns.map((c) => [c.fieldId, c.column])).toEqual([
      ['fld0', 'beta'],
      ['fld1', 'alpha'],
    ]);
  });

  it('frees the name of a deleted field for a new one and keeps the rest', () => {
    const before = buildBaseMapping('s', schemaWith(['A', 'B', 'B']));
    expect(before.tables[0].columns.map((c) => c.column)).toEqual(['a', 'b', 'b_2']);
    const next = schemaWith(['A', 'B', 'B']);
    next.tables[0].fields.splice(1, 1); // fld1 ("b") deleted; fld2 keeps b_2
    expect(buildBaseMapping('s', next, before).tables[0].columns.map((c) => c.column)).toEqual(['a', 'b_2']);
  });
});

describe('schemaHash', () => {
  const base = allTypesSchema();

  it('is sha-256 hex and deterministic', () => {
    expect(schemaHash(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(schemaHash(structuredClone(base))).toBe(schemaHash(base));
  });

  it('ignores field and table order, descriptions, views and cosmetic options', () => {
    const other = structuredClone(base);
    other.tables[0].fields.reverse();
    other.tables[0].description = 'changed';
    other.tables[0].views = [];
    (other.tables[0].fields.find((f) => f.type === 'number') as AirtableField).options = { precision: 2 };
    expect(schemaHash(other)).toBe(schemaHash(base));
    const two: BaseSchema = { tables: [...schemaWith(['A']).tables, ...base.tables] };
    expect(schemaHash({ tables: [...two.tables].reverse() })).toBe(schemaHash(two));
  });

  it('changes with a field rename, a type change, a result type change, a new field or a table rename', () => {
    const h = schemaHash(base);
    const variants: Array<(b: BaseSchema) => void> = [
      (b) => (b.tables[0].fields[0].name = 'Title'),
      (b) => (b.tables[0].fields[0].type = 'multilineText'),
      (b) => {
        const f = b.tables[0].fields.find((x) => x.id === 'fldBeqw3negrW9MMK') as AirtableField;
        f.options = { ...f.options, result: { type: 'singleLineText' } };
      },
      (b) => b.tables[0].fields.push({ id: 'fldNew', name: 'New', type: 'number' }),
      (b) => (b.tables[0].name = 'Flats'),
    ];
    for (const change of variants) {
      const b = structuredClone(base);
      change(b);
      expect(schemaHash(b)).not.toBe(h);
    }
  });
});
