import { describe, expect, it } from 'vitest';
import { isComputedType, ReverseValueError, toAirtableCell } from '../../src/mirror/reverse.ts';
import type { ColumnMapping } from '../../src/mirror/types.ts';
import { pgTypeFor } from '../../src/mirror/pg-types.ts';

/** A column of `type` (pgType from the real mapping). */
function col(airtableType: string, options?: Record<string, unknown>): ColumnMapping {
  const field = { id: 'fldX', name: 'X', type: airtableType, options };
  return { fieldId: 'fldX', fieldName: 'X', column: 'x', airtableType, pgType: pgTypeFor(field), field };
}

describe('toAirtableCell: typed value (as row_to_json renders it) → Airtable cell', () => {
  it.each([
    ['singleLineText', 'Ada', 'Ada'],
    ['richText', '**bold**', '**bold**'],
    ['singleSelect', 'Gold', 'Gold'],
    ['number', 1.5, 1.5],
    ['currency', 12.34, 12.34],
    ['percent', 0.25, 0.25],
    ['duration', 3600, 3600],
    ['rating', 4, 4],
    ['checkbox', true, true],
    ['date', '2025-04-03', '2025-04-03'],
    ['dateTime', '2025-04-03T10:30:00-04:00', '2025-04-03T14:30:00.000Z'],
    ['multipleSelects', ['VIP', 'Newsletter'], ['VIP', 'Newsletter']],
    ['multipleRecordLinks', ['recA', 'recB'], ['recA', 'recB']],
    ['barcode', { text: '123', type: 'upce' }, { text: '123', type: 'upce' }],
  ])('%s', (type, value, cell) => {
    expect(toAirtableCell(col(type), value)).toEqual(cell);
  });

  it('NULL clears a cell; a NULL checkbox is unchecked; a NULL array is empty', () => {
    expect(toAirtableCell(col('singleLineText'), null)).toBeNull();
    expect(toAirtableCell(col('number'), null)).toBeNull();
    expect(toAirtableCell(col('date'), null)).toBeNull();
    expect(toAirtableCell(col('checkbox'), null)).toBe(false);
    expect(toAirtableCell(col('multipleSelects'), null)).toEqual([]);
    expect(toAirtableCell(col('multipleAttachments'), null)).toEqual([]);
  });

  it('attachments go back as {id} (kept) or {url, filename} (added), never as whole objects', () => {
    const mirrored = [
      { id: 'attA', url: 'https://x/a.png', filename: 'a.png', size: 10, thumbnails: {} },
      { url: 'https://example.com/b.png', filename: 'b.png' },
    ];
    expect(toAirtableCell(col('multipleAttachments'), mirrored)).toEqual([
      { id: 'attA' },
      { url: 'https://example.com/b.png', filename: 'b.png' },
    ]);
  });

  it('collaborators go back by id or email', () => {
    expect(toAirtableCell(col('singleCollaborator'), { id: 'usrA', email: 'a@x', name: 'A' })).toEqual({
      id: 'usrA',
    });
    expect(toAirtableCell(col('multipleCollaborators'), [{ email: 'a@x' }, 'usrB'])).toEqual([
      { email: 'a@x' },
      { id: 'usrB' },
    ]);
  });

  it.each([
    ['date', 'infinity', '22008'],
    ['dateTime', '-infinity', '22008'],
    ['number', 'NaN', '22023'],
    ['multipleSelects', ['a', null], '22023'],
    ['singleLineText', 5, '22023'],
  ])('%s %j has no Airtable form (%s)', (type, value, state) => {
    try {
      toAirtableCell(col(type), value);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ReverseValueError);
      expect((err as ReverseValueError).sqlState).toBe(state);
      expect((err as ReverseValueError).column).toBe('x');
    }
  });

  it('computed fields are refused', () => {
    for (const t of [
      'formula',
      'rollup',
      'multipleLookupValues',
      'count',
      'autoNumber',
      'createdTime',
      'lastModifiedTime',
      'createdBy',
      'lastModifiedBy',
      'button',
      'aiText',
    ]) {
      expect(isComputedType(t)).toBe(true);
      expect(() => toAirtableCell(col(t), 1)).toThrow(ReverseValueError);
    }
    expect(isComputedType('singleLineText')).toBe(false);
  });
});
