import { describe, expect, it } from 'vitest';
import type { WebhookPayload } from '../../src/airtable/types.ts';
import { ALL_FIELDS, planPayloads, shouldSweep } from '../../src/webhooks/plan.ts';

// Envelope per docs/airtable-reference.md §4.7 (payloadFormat v0).
const envelope = (over: Partial<WebhookPayload>): WebhookPayload => ({
  timestamp: '2022-02-01T21:25:05.663Z',
  baseTransactionNumber: 4,
  payloadFormat: 'v0',
  actionMetadata: { source: 'client', sourceMetadata: { user: { id: 'usr00000000000000' } } },
  ...over,
});

const T1 = 'tbl00000000000001';
const T2 = 'tbl00000000000002';

describe('planPayloads', () => {
  it('collects created and changed records to fetch, with the fields that changed', () => {
    const plan = planPayloads([
      envelope({
        changedTablesById: {
          [T1]: {
            createdRecordsById: {
              rec00000000000001: {
                createdTime: '2022-02-01T21:25:05.663Z',
                cellValuesByFieldId: { fldA: 'x' },
              },
            },
            changedRecordsById: {
              rec00000000000002: {
                current: { cellValuesByFieldId: { fldB: 2 } },
                previous: { cellValuesByFieldId: { fldB: 1 } },
                unchanged: { cellValuesByFieldId: { fldC: 'same' } },
              },
            },
          },
        },
      }),
    ]);
    expect([...plan.fetch.get(T1)!]).toEqual(['rec00000000000001', 'rec00000000000002']);
    expect(plan.changedFields.get(T1)).toEqual(new Set([ALL_FIELDS, 'fldA', 'fldB']));
    expect(plan.changedFields.get(T1)!.has('fldC')).toBe(false); // `unchanged` cells did not change
    expect(plan.destroy.size).toBe(0);
    expect(plan.schemaChanged).toBe(false);
  });

  it('turns a record changed then destroyed (in a later payload) into a delete only', () => {
    const plan = planPayloads([
      envelope({
        changedTablesById: {
          [T1]: { changedRecordsById: { recGone: { current: { cellValuesByFieldId: { fldA: 1 } } } } },
        },
      }),
      envelope({ changedTablesById: { [T1]: { destroyedRecordIds: ['recGone'] } } }),
    ]);
    expect(plan.fetch.has(T1)).toBe(false);
    expect([...plan.destroy.get(T1)!]).toEqual(['recGone']);
  });

  it.each([
    ['a created field', { [T1]: { createdFieldsById: { fldN: { name: 'New', type: 'number' } } } }],
    ['a changed field', { [T1]: { changedFieldsById: { fldN: { current: { name: 'Renamed' } } } } }],
    ['a destroyed field', { [T1]: { destroyedFieldIds: ['fldN'] } }],
    ['a renamed table', { [T1]: { changedMetadata: { current: { name: 'B' }, previous: { name: 'A' } } } }],
  ])('flags %s as a schema change', (_name, changedTablesById) => {
    expect(planPayloads([envelope({ changedTablesById })]).schemaChanged).toBe(true);
  });

  it('flags created and destroyed tables as a schema change and drops work for destroyed tables', () => {
    const plan = planPayloads([
      envelope({
        changedTablesById: {
          [T2]: { changedRecordsById: { rec1: { current: { cellValuesByFieldId: {} } } } },
        },
      }),
      envelope({ destroyedTableIds: [T2] }),
    ]);
    expect(plan.schemaChanged).toBe(true);
    expect(plan.fetch.has(T2)).toBe(false);
    expect(planPayloads([envelope({ createdTablesById: { [T2]: {} } })]).schemaChanged).toBe(true);
  });

  it('reports the code of an error payload', () => {
    const plan = planPayloads([envelope({ error: true, code: 'INVALID_HOOK' })]);
    expect(plan.errorCode).toBe('INVALID_HOOK');
  });

  it('tolerates payloads with no change keys and unknown keys', () => {
    const plan = planPayloads([envelope({ ...({ somethingNew: { x: 1 } } as object) })]);
    expect(plan.fetch.size + plan.destroy.size).toBe(0);
    expect(plan.schemaChanged).toBe(false);
  });
});

describe('shouldSweep', () => {
  it('sweeps above the threshold or past half of a table', () => {
    expect(shouldSweep(1001, { threshold: 1000 })).toBe(true);
    expect(shouldSweep(1000, { threshold: 1000 })).toBe(false);
    expect(shouldSweep(300, { threshold: 1000, rowCount: 500 })).toBe(true);
    expect(shouldSweep(200, { threshold: 1000, rowCount: 500 })).toBe(false);
    expect(shouldSweep(60, { threshold: 1000, rowCount: 100 })).toBe(false); // small tables: by id
  });
});
