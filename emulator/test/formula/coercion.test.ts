import { describe, expect, it } from 'vitest';
import { run } from './helpers.ts';

const eq = (formula: string, cells: Record<string, unknown>, expected: unknown) =>
  expect(run(formula, { cells }), formula).toEqual(expected);

describe('cell values in formulas (docs/airtable-reference.md §3.3 REST shapes)', () => {
  it('numbers and currencies take part in arithmetic', () => {
    eq('{Count} * {Price}', { Count: 3, Price: 2.5 }, 7.5);
  });

  it('an unchecked (absent) checkbox is false, a checked one true', () => {
    eq('IF({Done}, "y", "n")', { Done: true }, 'y');
    eq('IF({Done}, "y", "n")', {}, 'n');
    eq('{Done} = 0', {}, true);
  });

  it('selects by name; multiple selects as a list', () => {
    eq("{Status} = 'Todo'", { Status: 'Todo' }, true);
    eq('{Tags}', { Tags: ['a', 'b'] }, ['a', 'b']);
    eq("{Tags} & ''", { Tags: ['a', 'b'] }, 'a, b');
    eq("FIND('b', {Tags}) > 0", { Tags: ['a', 'b'] }, true);
  });

  it('collaborators by name (then email), attachments by filename, barcode by text', () => {
    eq('{Owner}', { Owner: { id: 'usr00000000000001', email: 'a@x.io', name: 'Ann' } }, 'Ann');
    eq('{Owner}', { Owner: { id: 'usr00000000000001', email: 'a@x.io' } }, 'a@x.io');
    eq(
      'ARRAYJOIN({People})',
      {
        People: [
          { id: 'usr1', name: 'Ann' },
          { id: 'usr2', name: 'Bo' },
        ],
      },
      'Ann, Bo',
    );
    eq('{Files}', { Files: [{ id: 'att1', url: 'https://x/a.png', filename: 'a.png' }] }, ['a.png']);
    eq('{Barcode}', { Barcode: { text: '123', type: 'upce' } }, '123');
  });

  it('links are record ids and lookups flat arrays', () => {
    eq('COUNTA({Links})', { Links: ['rec1', 'rec2'] }, 2);
    eq('{Lookup}', { Lookup: [1, 'x'] }, [1, 'x']);
    eq('ISERROR({Lookup})', { Lookup: [{ error: '#ERROR!' }] }, true);
  });

  it('date fields work with date functions and compare with ISO text', () => {
    eq("IS_AFTER({Due Date}, '2024-01-01')", { 'Due Date': '2024-01-02' }, true);
    eq("{When} = '2024-01-15T10:00:00.000Z'", { When: '2024-01-15T10:00:00.000Z' }, true);
    eq("{When} < '2024-01-15T10:00:01Z'", { When: '2024-01-15T10:00:00.000Z' }, true);
    eq('DATETIME_FORMAT({Due Date}, "D/M")', { 'Due Date': '2024-07-04' }, '4/7');
  });

  it('an errored formula cell makes the referencing formula an error; NaN stays NaN', () => {
    eq('{Broken Formula} & "x"', { 'Broken Formula': { error: '#ERROR!' } }, { error: '#ERROR!' });
    eq('{Broken Formula} + 1', { 'Broken Formula': { specialValue: 'NaN' } }, { specialValue: 'NaN' });
  });

  it('blank equals "" and 0 in comparisons but not other values', () => {
    eq("{Name} = ''", {}, true);
    eq('{Count} = 0', {}, true);
    eq('{Count} = BLANK()', {}, true);
    eq("{Name} = 'x'", {}, false);
    eq('{Count} < 1', {}, true);
    eq('{Count} = 0', { Count: 0 }, true);
  });

  it('numbers against numeric text compare as numbers, otherwise as text', () => {
    eq("1 = '1'", {}, true);
    eq("10 > '9'", {}, true);
    eq("'b' > 'a'", {}, true);
    eq("'a' = 'A'", {}, false);
    eq("2 = 'two'", {}, false);
    eq('TRUE() = 1', {}, true);
  });
});
