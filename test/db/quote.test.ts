import { describe, expect, it } from 'vitest';
import { quoteIdent, quoteLiteral, quoteQualified } from '../../src/db/quote.ts';

describe('quoteIdent', () => {
  it('wraps in double quotes and doubles embedded quotes', () => {
    expect(quoteIdent('users')).toBe('"users"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteIdent('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"');
  });
  it('refuses empty names and NUL bytes', () => {
    expect(() => quoteIdent('')).toThrow(/non-empty/);
    expect(() => quoteIdent('a\u0000b')).toThrow(/NUL/);
  });
  it('qualifies schema and name', () => {
    expect(quoteQualified('my schema', 'T')).toBe('"my schema"."T"');
  });
  it('quotes literals', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });
});
