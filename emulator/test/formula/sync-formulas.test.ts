import { describe, expect, it } from 'vitest';
import { compileFormula, isTruthy } from '../../formula/index.ts';
import { context, resolve, run } from './helpers.ts';

describe('the formulas incremental and webhook sync send (docs/airtable-reference.md §5)', () => {
  const polling = "IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE('2024-01-15T10:00:00.000Z'))";

  it('IS_AFTER(LAST_MODIFIED_TIME(), ...) keeps records edited after the mark only', () => {
    expect(run(polling, { edits: { Name: '2024-01-15T10:00:00.001Z' } })).toBe(true);
    expect(run(polling, { edits: { Name: '2024-01-15T10:00:00.000Z' } })).toBe(false);
    expect(run(polling, { edits: { Name: '2024-01-14T00:00:00.000Z' } })).toBe(false);
    // Never edited: LAST_MODIFIED_TIME() is blank and the record is not "after".
    expect(isTruthy(run(polling, {}))).toBe(false);
  });

  it('LAST_MODIFIED_TIME({field}) only counts edits of the named fields', () => {
    const edits = { Name: '2024-01-20T00:00:00.000Z', Count: '2024-01-10T00:00:00.000Z' };
    expect(run("IS_AFTER(LAST_MODIFIED_TIME({Count}), '2024-01-15')", { edits })).toBe(false);
    expect(run("IS_AFTER(LAST_MODIFIED_TIME({Count}, {Name}), '2024-01-15')", { edits })).toBe(true);
  });

  it('IS_AFTER({Last Modified}, ...) on a lastModifiedTime field, by name or id', () => {
    const cells = { 'Last Modified': '2024-01-16T08:00:00.000Z' };
    expect(run("IS_AFTER({Last Modified}, '2024-01-15T10:00:00.000Z')", { cells })).toBe(true);
    expect(run("IS_AFTER({fldLastMod0000001}, '2024-01-17T00:00:00.000Z')", { cells })).toBe(false);
    expect(run("IS_AFTER({Last Modified}, '2024-01-15T10:00:00.000Z')", {})).toBe(false);
  });

  it('OR(RECORD_ID()=...) with hundreds of terms compiles once and selects exactly its records', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `rec${String(i).padStart(14, '0')}`);
    const formula = `OR(${ids.map((id) => `RECORD_ID()='${id}'`).join(', ')})`;
    const compiled = compileFormula(formula, resolve);
    expect(compiled.referencedFieldIds).toEqual([]);
    const all = [...ids, ...Array.from({ length: 700 }, (_, i) => `recOTHER${String(i).padStart(9, '0')}`)];
    const kept = all.filter((id) => isTruthy(compiled.evaluate(context({ id }))));
    expect(kept).toEqual(ids);
  });

  it('deeply nested formulas do not blow the stack at realistic sizes', () => {
    const formula = `${'IF(1, '.repeat(200)}'deep'${')'.repeat(200)}`;
    expect(run(formula)).toBe('deep');
  });
});
