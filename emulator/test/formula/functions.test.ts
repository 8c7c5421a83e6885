import { describe, expect, it } from 'vitest';
import { run } from './helpers.ts';

const eq = (formula: string, expected: unknown, spec = {}) =>
  expect(run(formula, spec), formula).toEqual(expected);

describe('record and date functions', () => {
  const spec = {
    id: 'recXYZ0000000000A',
    createdTime: '2024-01-02T03:04:05.000Z',
    now: '2024-02-10T12:34:56.789Z',
  };

  it('RECORD_ID, CREATED_TIME, NOW, TODAY read the context', () => {
    eq('RECORD_ID()', 'recXYZ0000000000A', spec);
    eq('CREATED_TIME()', '2024-01-02T03:04:05.000Z', spec);
    eq('NOW()', '2024-02-10T12:34:56.789Z', spec);
    eq('TODAY()', '2024-02-10T00:00:00.000Z', spec);
  });

  it('IS_AFTER / IS_BEFORE compare instants; blanks are neither', () => {
    eq("IS_AFTER('2024-01-02', '2024-01-01')", true);
    eq("IS_AFTER('2024-01-01', '2024-01-01')", false);
    eq("IS_BEFORE('2024-01-01T00:00:00Z', '2024-01-01T00:00:00.001Z')", true);
    eq("IS_BEFORE('2024-01-02', '2024-01-01')", false);
    eq("IS_AFTER(BLANK(), '2024-01-01')", false);
    eq("IS_AFTER('2024-01-01T02:00:00+02:00', '2024-01-01T00:30:00Z')", false);
    eq("IS_AFTER('garbage', '2024-01-01')", { error: '#ERROR!' });
  });

  it('IS_SAME compares at the given unit', () => {
    eq("IS_SAME('2024-01-15T10:00:00Z', '2024-01-15T23:59:59Z', 'day')", true);
    eq("IS_SAME('2024-01-15T10:00:00Z', '2024-01-16T00:00:00Z', 'day')", false);
    eq("IS_SAME('2024-01-15', '2024-03-31', 'quarter')", true);
    eq("IS_SAME('2024-01-15', '2024-04-01', 'quarter')", false);
    eq("IS_SAME('2024-01-14', '2024-01-20', 'week')", true); // Sunday..Saturday
    eq("IS_SAME('2024-01-13', '2024-01-14', 'week')", false);
    eq("IS_SAME('2024-01-15T10:00:00Z', '2024-01-15T10:00:00.000Z')", true);
    eq("IS_SAME('2024-01-15T10:00:00Z', '2024-01-15T10:00:01Z')", false);
  });

  it('DATETIME_PARSE reads ISO text and common formats', () => {
    eq("DATETIME_PARSE('2024-01-15T10:00:00.000Z')", '2024-01-15T10:00:00.000Z');
    eq("DATETIME_PARSE('2024-01-15T10:00:00+01:00')", '2024-01-15T09:00:00.000Z');
    eq("DATETIME_PARSE('2024-01-15 10:00')", '2024-01-15T10:00:00.000Z');
    eq("DATETIME_PARSE('15/01/2024', 'DD/MM/YYYY')", '2024-01-15T00:00:00.000Z');
    eq("DATETIME_PARSE('1/15/2024 3:05 pm', 'M/D/YYYY h:mm a')", '2024-01-15T15:05:00.000Z');
    eq("DATETIME_PARSE('March 5, 2024', 'MMMM D, YYYY')", '2024-03-05T00:00:00.000Z');
    eq("DATETIME_PARSE('1705312800', 'X')", '2024-01-15T10:00:00.000Z');
    eq("DATETIME_PARSE('2024-01-15T10:00:00.000Z', 'YYYY-MM-DDTHH:mm:ss.SSSZ')", '2024-01-15T10:00:00.000Z');
    eq(
      "DATETIME_PARSE('2024-01-15T10:00:00.000+02:00', 'YYYY-MM-DDTHH:mm:ss.SSSZ')",
      '2024-01-15T08:00:00.000Z',
    );
    eq("DATETIME_PARSE('2024-02-30')", { error: '#ERROR!' });
    eq("DATETIME_PARSE('15/01/2024', 'YYYY-MM-DD')", { error: '#ERROR!' });
    eq("DATETIME_PARSE('')", null);
  });

  it('DATETIME_FORMAT defaults to ISO and renders tokens', () => {
    const d = "DATETIME_PARSE('2024-03-05T14:07:09.012Z')";
    eq(`DATETIME_FORMAT(${d})`, '2024-03-05T14:07:09.012Z');
    eq(`DATETIME_FORMAT(${d}, 'YYYY-MM-DD')`, '2024-03-05');
    eq(`DATETIME_FORMAT(${d}, 'M/D/YY h:mm A')`, '3/5/24 2:07 PM');
    eq(`DATETIME_FORMAT(${d}, 'dddd, MMMM D [at] HH:mm:ss.SSS')`, 'Tuesday, March 5 at 14:07:09.012');
    eq(`DATETIME_FORMAT(${d}, 'x')`, String(Date.parse('2024-03-05T14:07:09.012Z')));
  });

  it('DATEADD adds units, clamping month ends', () => {
    eq("DATEADD('2024-01-15T10:00:00Z', 90, 'minutes')", '2024-01-15T11:30:00.000Z');
    eq("DATEADD('2024-01-15', -1, 'day')", '2024-01-14T00:00:00.000Z');
    eq("DATEADD('2024-01-15', 2, 'weeks')", '2024-01-29T00:00:00.000Z');
    eq("DATEADD('2024-01-31', 1, 'months')", '2024-02-29T00:00:00.000Z');
    eq("DATEADD('2024-01-31', 1, 'M')", '2024-02-29T00:00:00.000Z');
    eq("DATEADD('2024-01-31', 1, 'm')", '2024-01-31T00:01:00.000Z');
    eq("DATEADD('2024-02-29', 1, 'year')", '2025-02-28T00:00:00.000Z');
    eq("DATEADD('2024-01-15', 1, 'quarters')", '2024-04-15T00:00:00.000Z');
    eq("DATEADD('2024-01-15', 1, 'fortnights')", { error: '#ERROR!' });
  });

  it('DATETIME_DIFF is d1 − d2, truncated, seconds by default', () => {
    eq("DATETIME_DIFF('2024-01-15T10:00:00Z', '2024-01-15T09:58:30Z')", 90);
    eq("DATETIME_DIFF('2024-01-15T10:00:00Z', '2024-01-15T09:58:30Z', 'minutes')", 1);
    eq("DATETIME_DIFF('2024-01-10', '2024-01-15', 'days')", -5);
    eq("DATETIME_DIFF('2024-03-01', '2024-01-31', 'months')", 1);
    eq("DATETIME_DIFF('2024-02-28', '2024-01-31', 'months')", 0);
    eq("DATETIME_DIFF('2025-01-14', '2024-01-15', 'years')", 0);
    eq("DATETIME_DIFF('2025-01-15', '2024-01-15', 'years')", 1);
  });
});

describe('logical functions', () => {
  it('AND, OR, NOT, XOR', () => {
    eq('AND(1, "x", TRUE())', true);
    eq('AND(1, "")', false);
    eq('OR(0, "", BLANK())', false);
    eq('OR(0, 2)', true);
    eq('NOT(0)', true);
    eq('NOT("x")', false);
    eq('XOR(1, 1, 1)', true);
    eq('XOR(1, 1)', false);
  });

  it('IF evaluates only the chosen branch; a missing else is blank', () => {
    eq('IF(1, "yes", ERROR())', 'yes');
    eq('IF(0, ERROR(), "no")', 'no');
    eq('IF(0, "yes")', null);
  });

  it('SWITCH picks the matching pattern, else the default, else blank', () => {
    eq("SWITCH('b', 'a', 1, 'b', 2, 0)", 2);
    eq("SWITCH('z', 'a', 1, 'b', 2, 0)", 0);
    eq("SWITCH('z', 'a', 1)", null);
    eq("SWITCH(2, 1, 'one', 2, 'two')", 'two');
  });

  it('ERROR and ISERROR', () => {
    eq('ISERROR(ERROR())', true);
    eq('ISERROR(1)', false);
    eq("ISERROR(DATETIME_PARSE('nope'))", true);
    eq('IF(ISERROR(ERROR()), "caught", "not")', 'caught');
  });
});

describe('text functions', () => {
  it('CONCATENATE, LEN, LOWER, UPPER, TRIM', () => {
    eq("CONCATENATE('a', 1, BLANK(), 'b')", 'a1b');
    eq("LEN('héllo')", 5);
    eq("LOWER('AbC')", 'abc');
    eq("UPPER('AbC')", 'ABC');
    eq("TRIM('  a b  ')", 'a b');
  });

  it('LEFT, RIGHT, MID', () => {
    eq("LEFT('abcdef', 2)", 'ab');
    eq("RIGHT('abcdef', 2)", 'ef');
    eq("RIGHT('abcdef', 0)", '');
    eq("MID('abcdef', 2, 3)", 'bcd');
    eq("MID('abcdef', 0, 3)", { error: '#ERROR!' });
  });

  it('FIND returns 0 when absent, SEARCH blank; both 1-based with a start position', () => {
    eq("FIND('c', 'abcabc')", 3);
    eq("FIND('c', 'abcabc', 4)", 6);
    eq("FIND('z', 'abc')", 0);
    eq("SEARCH('c', 'abcabc')", 3);
    eq("SEARCH('z', 'abc')", null);
  });

  it('SUBSTITUTE, REPLACE, REPT', () => {
    eq("SUBSTITUTE('a-b-c', '-', '+')", 'a+b+c');
    eq("SUBSTITUTE('a-b-c', '-', '+', 2)", 'a-b+c');
    eq("SUBSTITUTE('a-b-c', '-', '+', 5)", 'a-b-c');
    eq("REPLACE('abcdef', 2, 3, 'XY')", 'aXYef');
    eq("REPT('ab', 3)", 'ababab');
  });

  it('VALUE and T', () => {
    eq("VALUE('$1,234.50')", 1234.5);
    eq("VALUE('-12')", -12);
    eq('T(12)', '');
    eq("T('x')", 'x');
  });
});

describe('numeric functions', () => {
  it('rounding family', () => {
    eq('ROUND(2.5)', 3);
    eq('ROUND(-2.5)', -3);
    eq('ROUND(1.005, 2)', 1.01);
    eq('ROUND(1234, -2)', 1200);
    eq('ROUNDUP(1.21, 1)', 1.3);
    eq('ROUNDUP(-1.21, 1)', -1.3);
    eq('ROUNDDOWN(1.29, 1)', 1.2);
    eq('ROUNDDOWN(-1.29, 1)', -1.2);
    eq('INT(-1.5)', -2);
    eq('INT(1.9)', 1);
    eq('CEILING(4.1)', 5);
    eq('CEILING(4.1, 0.5)', 4.5);
    eq('FLOOR(4.9, 2)', 4);
  });

  it('ABS, MOD, POWER, SQRT', () => {
    eq('ABS(-3)', 3);
    eq('MOD(7, 3)', 1);
    eq('MOD(-7, 3)', -1);
    eq('POWER(2, 10)', 1024);
    eq('SQRT(16)', 4);
  });

  it('aggregates flatten arrays and skip blanks and text', () => {
    const spec = { cells: { Lookup: [1, 2, 3] } };
    eq('SUM(1, 2, 3)', 6);
    eq('SUM({Lookup}, 4)', 10, spec);
    eq('AVERAGE({Lookup})', 2, spec);
    eq("AVERAGE(2, 'x', BLANK(), 4)", 3);
    eq('MAX({Lookup}, -1)', 3, spec);
    eq('MIN({Lookup}, -1)', -1, spec);
    eq("COUNT(1, 'a', BLANK(), 2)", 2);
    eq("COUNTA(1, 'a', BLANK(), '')", 2);
    eq("COUNTALL(1, 'a', BLANK(), '')", 4);
  });
});

describe('array functions', () => {
  const spec = { cells: { Lookup: ['b', 'a', '', 'b', null] } };
  it('ARRAYJOIN, ARRAYUNIQUE, ARRAYCOMPACT', () => {
    eq('ARRAYJOIN({Lookup})', 'b, a, , b, ', spec);
    eq("ARRAYJOIN({Lookup}, '|')", 'b|a||b|', spec);
    eq('ARRAYUNIQUE({Lookup})', ['b', 'a', '', null], spec);
    eq('ARRAYCOMPACT({Lookup})', ['b', 'a', 'b'], spec);
  });
});
