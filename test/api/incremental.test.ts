import { describe, expect, it } from 'vitest';
import { compileFormula, isTruthy } from '../../emulator/formula/index.ts';
import { incrementalFormula, reconciliationDue, recordTime } from '../../sync/incremental.ts';
import type { TableSyncContext } from '../../sync/strategy.ts';

const FIELD = 'fldLastModified01';
const since = new Date('2026-01-15T10:00:00.000Z');

/** Evaluates our filter with the emulator's formula language for one record. */
function keeps(formula: string, rec: { createdTime: string; modified?: string }) {
  const compiled = compileFormula(formula, (nameOrId) =>
    nameOrId === FIELD ? { id: FIELD, name: 'Last Modified', type: 'lastModifiedTime' } : undefined,
  );
  return isTruthy(
    compiled.evaluate({
      recordId: 'recAAAAAAAAAAAAAA',
      createdTime: rec.createdTime,
      lastModifiedTime: () => rec.modified ?? null,
      getCell: (id) => (id === FIELD ? rec.modified : undefined),
      now: Date.parse('2026-02-01T00:00:00.000Z'),
    }),
  );
}

describe('incremental filter (docs/airtable-reference.md §5)', () => {
  it('references the field by id and parses the mark', () => {
    expect(incrementalFormula({ fieldId: 'fldCreated0000001', airtableType: 'createdTime' }, since)).toBe(
      "IS_AFTER({fldCreated0000001}, DATETIME_PARSE('2026-01-15T10:00:00.000Z'))",
    );
  });

  it('keeps records modified after the mark, and never-edited (empty) ones created after it', () => {
    const f = incrementalFormula({ fieldId: FIELD, airtableType: 'lastModifiedTime' }, since);
    expect(keeps(f, { createdTime: '2025-01-01T00:00:00.000Z', modified: '2026-01-15T10:00:01.000Z' })).toBe(
      true,
    );
    expect(keeps(f, { createdTime: '2025-01-01T00:00:00.000Z', modified: '2026-01-15T09:59:59.000Z' })).toBe(
      false,
    );
    expect(keeps(f, { createdTime: '2026-01-20T00:00:00.000Z' })).toBe(true);
    expect(keeps(f, { createdTime: '2025-01-20T00:00:00.000Z' })).toBe(false);
  });

  it("takes a record's time from the field, or its createdTime when the cell is empty", () => {
    expect(
      recordTime(
        { id: 'r', createdTime: '2025-01-01T00:00:00.000Z', fields: { [FIELD]: '2026-01-02T03:04:05.000Z' } },
        FIELD,
      ),
    ).toBe(Date.parse('2026-01-02T03:04:05.000Z'));
    expect(recordTime({ id: 'r', createdTime: '2025-01-01T00:00:00.000Z', fields: {} }, FIELD)).toBe(
      Date.parse('2025-01-01T00:00:00.000Z'),
    );
  });
});

describe('reconciliation', () => {
  const ctx = (
    over: Partial<TableSyncContext['config']>,
    full = false,
    now = Date.parse('2026-01-02T00:00:00Z'),
  ) =>
    ({
      full,
      now: () => now,
      config: {
        fullRefreshInterval: '24hour',
        highWaterMark: new Date('2026-01-01T12:00:00Z'),
        lastFullRefreshAt: new Date('2026-01-01T12:00:00Z'),
        ...over,
      },
    }) as unknown as TableSyncContext;

  it('is due on the first run, on a resync and every full_refresh_interval', () => {
    expect(reconciliationDue(ctx({}))).toBe(false);
    expect(reconciliationDue(ctx({ highWaterMark: null }))).toBe(true);
    expect(reconciliationDue(ctx({ lastFullRefreshAt: null }))).toBe(true);
    expect(reconciliationDue(ctx({}, true))).toBe(true);
    expect(reconciliationDue(ctx({ lastFullRefreshAt: new Date('2026-01-01T00:00:00Z') }))).toBe(true);
    expect(reconciliationDue(ctx({ fullRefreshInterval: '1hour' }))).toBe(true);
  });
});
