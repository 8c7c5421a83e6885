import type { AirtableField, AirtableRecord, BaseSchema } from '../../src/airtable/types.ts';

/**
 * Field configs as the meta API returns them (docs/airtable-reference.md §3.2/§3.3). The formula, rollup, lookup,
 * createdTime and lastModifiedTime configs are those of pyairtable's tests/sample_data/field_schema
 * fixtures (docs/airtable-reference.md §6); `somethingUnrecognizable` is its UnknownFieldSchema forward-compat case.
 */
export const FIELDS: AirtableField[] = [
  { id: 'fldName0000000001', name: 'Name', type: 'singleLineText' },
  { id: 'fldNotes000000001', name: 'Notes', type: 'multilineText' },
  { id: 'fldRich0000000001', name: 'Rich', type: 'richText' },
  { id: 'fldEmail000000001', name: 'Email', type: 'email' },
  { id: 'fldUrl00000000001', name: 'URL', type: 'url' },
  { id: 'fldPhone000000001', name: 'Phone', type: 'phoneNumber' },
  { id: 'fldNumber00000001', name: 'Number', type: 'number', options: { precision: 8 } },
  { id: 'fldPercent0000001', name: 'Percent', type: 'percent', options: { precision: 1 } },
  { id: 'fldCurrency000001', name: 'Currency', type: 'currency', options: { precision: 2, symbol: '$' } },
  { id: 'fldRating00000001', name: 'Rating', type: 'rating', options: { max: 5, icon: 'star', color: 'yellowBright' } },
  { id: 'fldDuration000001', name: 'Duration', type: 'duration', options: { durationFormat: 'h:mm' } },
  { id: 'fldCheckbox000001', name: 'Done', type: 'checkbox', options: { icon: 'check', color: 'greenBright' } },
  { id: 'fldDate0000000001', name: 'Due', type: 'date', options: { dateFormat: { name: 'iso', format: 'YYYY-MM-DD' } } },
  {
    id: 'fldDateTime000001',
    name: 'Starts At',
    type: 'dateTime',
    options: { timeZone: 'utc', dateFormat: { name: 'iso', format: 'YYYY-MM-DD' }, timeFormat: { name: '24hour', format: 'HH:mm' } },
  },
  { id: 'fldSelect00000001', name: 'Status', type: 'singleSelect', options: { choices: [{ id: 'selA', name: 'Todo' }] } },
  { id: 'fldMulti000000001', name: 'Tags', type: 'multipleSelects', options: { choices: [] } },
  { id: 'fldCollab00000001', name: 'Owner', type: 'singleCollaborator', options: {} },
  { id: 'fldCollabs0000001', name: 'Watchers', type: 'multipleCollaborators', options: {} },
  {
    id: 'fldLinks000000001',
    name: 'District',
    type: 'multipleRecordLinks',
    options: { linkedTableId: 'tblK6MZHez0ZvBChZ', isReversed: false, prefersSingleRecordLink: true },
  },
  { id: 'fldAttach00000001', name: 'Pictures', type: 'multipleAttachments', options: { isReversed: false } },
  { id: 'fldBarcode0000001', name: 'Barcode', type: 'barcode' },
  { id: 'fldButton00000001', name: 'Button', type: 'button' },
  { id: 'fldAutoNum0000001', name: 'Auto', type: 'autoNumber' },
  {
    id: 'fldnejiVookFfecbE',
    name: 'Created',
    type: 'createdTime',
    options: { result: { type: 'dateTime', options: { timeZone: 'client' } } },
  },
  {
    id: 'fldoGZqYuPMGHyt51',
    name: 'Last Modified',
    type: 'lastModifiedTime',
    options: { isValid: true, referencedFieldIds: [], result: { type: 'dateTime', options: { timeZone: 'client' } } },
  },
  { id: 'fldCreatedBy00001', name: 'Created By', type: 'createdBy' },
  { id: 'fldModifiedBy0001', name: 'Modified By', type: 'lastModifiedBy' },
  {
    id: 'fldBeqw3negrW9MMK',
    name: 'Formula NaN',
    type: 'formula',
    options: {
      formula: '{fldgstMCbpPNgbXBN} + "FOO"',
      isValid: true,
      referencedFieldIds: ['fldgstMCbpPNgbXBN'],
      result: { type: 'number', options: { precision: 0 } },
    },
  },
  {
    id: 'fldFormulaText001',
    name: 'Formula Text',
    type: 'formula',
    options: { formula: 'UPPER({Name})', isValid: true, referencedFieldIds: [], result: { type: 'singleLineText' } },
  },
  {
    id: 'fldSTbXQ3nFW18CG5',
    name: 'Rollup Error',
    type: 'rollup',
    options: {
      isValid: true,
      recordLinkFieldId: 'fldNvFMYxBnf35WkO',
      fieldIdInLinkedTable: 'fld4QpwrhRppNhjFM',
      referencedFieldIds: [],
      result: { type: 'number', options: { precision: 0 } },
    },
  },
  { id: 'fldCount000000001', name: 'Count', type: 'count', options: { isValid: true, recordLinkFieldId: null } },
  {
    id: 'fldwYZ0pPzf0uvyg7',
    name: 'Lookup Multi Select',
    type: 'multipleLookupValues',
    options: {
      isValid: true,
      recordLinkFieldId: 'fldNvFMYxBnf35WkO',
      fieldIdInLinkedTable: 'fldI5gjLnq0RXUleV',
      result: { type: 'multipleSelects', options: { choices: [] } },
    },
  },
  { id: 'fldSync0000000001', name: 'Source', type: 'externalSyncSource', options: { choices: [] } },
  { id: 'fldAiText00000001', name: 'Summary', type: 'aiText', options: { referencedFieldIds: [] } },
  { id: 'fldManualSort0001', name: 'Manual Sort', type: 'manualSort', options: null },
  { id: 'fldUnknown0000001', name: 'Mystery', type: 'somethingUnrecognizable' },
]; // prettier-ignore

export const TABLE_ID = 'tbltp8DGLhqbUmjK1';

export function allTypesSchema(fields: AirtableField[] = FIELDS): BaseSchema {
  return {
    tables: [
      {
        id: TABLE_ID,
        name: 'Apartments',
        primaryFieldId: fields[0].id,
        fields,
        views: [{ id: 'viwQpsuEDqHFqegkp', name: 'Grid view', type: 'grid' }],
      },
    ],
  };
}

/** A record with a value in every field, keyed by field id (REST shapes, docs/airtable-reference.md §3.3). */
export function fullRecord(id = 'rec560UJdUtocSouk'): AirtableRecord {
  return {
    id,
    createdTime: '2022-09-12T21:03:48.000Z',
    fields: {
      fldName0000000001: 'Union Square',
      fldNotes000000001: 'Hi <airtable:mention id="menX">@Alex</airtable:mention>',
      fldRich0000000001: '**bold**',
      fldEmail000000001: 'a@example.com',
      fldUrl00000000001: 'https://example.com',
      fldPhone000000001: '(415) 555-0100',
      fldNumber00000001: 0.1234567891234,
      fldPercent0000001: 0.123,
      fldCurrency000001: 19.99,
      fldRating00000001: 4,
      fldDuration000001: 3600,
      fldCheckbox000001: true,
      fldDate0000000001: '2024-02-29',
      fldDateTime000001: '2022-09-05T07:00:00.000Z',
      fldSelect00000001: 'Todo',
      fldMulti000000001: ['One', 'Two'],
      fldCollab00000001: { id: 'usr00000000000000', email: 'foo@bar.com', name: 'Foo' },
      fldCollabs0000001: [{ id: 'usr00000000000000', email: 'foo@bar.com' }],
      fldLinks000000001: ['rec3lbPRG4aVqkeOQ'],
      fldAttach00000001: [{ id: 'att9cLoTiK3ewJMMF', url: 'https://x/y.jpg', filename: 'y.jpg', size: 10, type: 'image/jpeg' }],
      fldBarcode0000001: { text: '12345', type: 'upce' },
      fldButton00000001: { label: 'Open', url: null },
      fldAutoNum0000001: 42,
      fldnejiVookFfecbE: '2022-09-12T21:03:48.000Z',
      fldoGZqYuPMGHyt51: '2022-11-15T01:02:04.400Z',
      fldCreatedBy00001: { id: 'usr00000000000000', email: 'foo@bar.com' },
      fldModifiedBy0001: { id: 'usr00000000000000', email: 'foo@bar.com' },
      fldBeqw3negrW9MMK: 7,
      fldFormulaText001: 'UNION SQUARE',
      fldSTbXQ3nFW18CG5: 3,
      fldCount000000001: 2,
      fldwYZ0pPzf0uvyg7: ['One', 'Two'],
      fldSync0000000001: 'Sales base',
      fldAiText00000001: { state: 'generated', isStale: false, value: 'A square' },
      fldUnknown0000001: { some: ['thing'] },
    },
  }; // prettier-ignore
}
