import { describe, expect, it } from 'vitest';
import { isTruthy } from '../../formula/index.ts';
import { run } from './helpers.ts';

describe('formula results and truthiness', () => {
  it('turns runtime errors into the #ERROR! cell value', () => {
    expect(run('ERROR()')).toEqual({ error: '#ERROR!' });
    expect(run("DATETIME_PARSE('not a date')")).toEqual({ error: '#ERROR!' });
    expect(run("LEFT('abc', -1)")).toEqual({ error: '#ERROR!' });
    expect(run('1 + IF(1, ERROR(), 2)')).toEqual({ error: '#ERROR!' });
  });

  it('gives special values for NaN and division by zero', () => {
    expect(run('0 / 0')).toEqual({ specialValue: 'NaN' });
    expect(run("'abc' * 2")).toEqual({ specialValue: 'NaN' });
    expect(run('SQRT(-1)')).toEqual({ specialValue: 'NaN' });
    expect(run('5 / 0')).toEqual({ specialValue: 'Infinity' });
    expect(run('-5 / 0')).toEqual({ specialValue: '-Infinity' });
  });

  it('returns dates as ISO strings and BLANK() as null', () => {
    expect(run("DATETIME_PARSE('2024-01-15')")).toBe('2024-01-15T00:00:00.000Z');
    expect(run('BLANK()')).toBeNull();
  });

  it('keeps records unless the result is 0, false, "", NaN, [], blank or an error (docs/airtable-reference.md §1.1)', () => {
    for (const v of [0, false, '', NaN, [], null, undefined, { error: '#ERROR!' }, { specialValue: 'NaN' }]) {
      expect(isTruthy(v), JSON.stringify(v)).toBe(false);
    }
    for (const v of [
      1,
      -1,
      true,
      'x',
      '0',
      [0],
      ['a'],
      { specialValue: 'Infinity' },
      '2024-01-01T00:00:00.000Z',
    ]) {
      expect(isTruthy(v), JSON.stringify(v)).toBe(true);
    }
    expect(isTruthy(run('ERROR()'))).toBe(false);
    expect(isTruthy(run('0/0'))).toBe(false);
    expect(isTruthy(run("'a' = 'a'"))).toBe(true);
  });
});
