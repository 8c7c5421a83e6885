import type { EmulatorClock } from './clock.ts';
import type { CallFilter, CallLog, EmulatorCall } from './http/call-log.ts';
import type { FaultInjector, FaultSpec } from './http/faults.ts';
import type { RateLimiter } from './http/guards.ts';
import type { MonthlyQuota, MonthlyQuotaUsage } from './http/monthly-quota.ts';
import type { RecordLister } from './list.ts';
import type { EmulatorStore } from './store/store.ts';
import type { SchemaOps, FieldInput } from './store/schema-ops.ts';
import type { AirtableField, AirtableRecord, AirtableTable } from './types.ts';

/**
 * The in-process test control surface (also served over HTTP under `/__emulator/...`).
 * Record and schema edits here act "as the Airtable UI would": change source `client`, they
 * count as user edits (lastModifiedTime moves), and they bypass auth and the rate limit.
 */
export interface EmulatorControl {
  /** The emulator clock, ms. */
  now(): number;
  advanceClock(ms: number): void;
  setClock(ms: number): void;
  /** Queue a fault for the next `count` (default 1) matching requests. */
  fail(spec: FaultSpec): void;
  /** Drop queued faults and release hanging requests. */
  clearFaults(): void;
  /** Faults still queued. */
  pendingFaults(): number;
  /** Every list offset now answers 422 LIST_RECORDS_ITERATOR_NOT_AVAILABLE. */
  expireOffsets(): void;
  setOffsetTtl(ms: number): void;
  setRateLimit(rps: number | false, penaltyMs?: number): void;
  /**
   * Airtable's monthly call quota (docs/airtable-reference.md §2.1): `calls` a month for `token`
   * (every token without its own when omitted; false: none). Once spent, every data call answers
   * 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED until the month resets. `used` presets the token's count.
   */
  setMonthlyQuota(calls: number | false, opts?: { token?: string; used?: number }): void;
  /** The token's quota and the calls counted this month. */
  monthlyQuota(token: string): MonthlyQuotaUsage;
  /** API calls answered so far (since the start or `clearCalls()`), oldest first. */
  calls(filter?: CallFilter): EmulatorCall[];
  /** Calls the bounded log dropped since the start or `clearCalls()` (see `callLogLimit`). */
  droppedCalls(): number;
  clearCalls(): void;
  createRecords(
    baseId: string,
    table: string,
    records: Array<{ fields: Record<string, unknown> }>,
  ): AirtableRecord[];
  updateRecords(
    baseId: string,
    table: string,
    records: Array<{ id: string; fields: Record<string, unknown> }>,
  ): AirtableRecord[];
  deleteRecords(baseId: string, table: string, ids: string[]): void;
  createTable(
    baseId: string,
    input: { name: string; description?: string; fields: FieldInput[] },
  ): AirtableTable;
  renameTable(baseId: string, table: string, name: string): AirtableTable;
  deleteTable(baseId: string, table: string): void;
  createField(baseId: string, table: string, input: FieldInput): AirtableField;
  renameField(baseId: string, table: string, field: string, name: string): AirtableField;
  changeFieldType(
    baseId: string,
    table: string,
    field: string,
    type: string,
    options?: Record<string, unknown>,
  ): AirtableField;
  deleteField(baseId: string, table: string, field: string): void;
}

export function createControl(deps: {
  store: EmulatorStore;
  schema: SchemaOps;
  clock: EmulatorClock;
  faults: FaultInjector;
  lister: RecordLister;
  limiter: RateLimiter;
  quota: MonthlyQuota;
  calls: CallLog;
}): EmulatorControl {
  const { store, schema, clock, faults, lister, limiter, quota, calls } = deps;
  const ui = { source: 'client' as const, typecast: true };
  const out = (baseId: string, table: string, recs: Parameters<EmulatorStore['serialize']>[2][]) => {
    const { base, table: t } = store.requireTable(baseId, table);
    return recs.map((r) => store.serialize(base, t, r));
  };
  return {
    now: () => clock.now(),
    advanceClock: (ms) => clock.advance(ms),
    setClock: (ms) => clock.set(ms),
    fail: (spec) => faults.add(spec),
    clearFaults: () => faults.clear(),
    pendingFaults: () => faults.pending,
    expireOffsets: () => lister.expireAll(),
    setOffsetTtl: (ms) => {
      lister.ttlMs = ms;
    },
    setRateLimit: (rps, penaltyMs) => limiter.set(rps, penaltyMs),
    setMonthlyQuota: (n, opts) => quota.set(n, opts),
    monthlyQuota: (token) => quota.usage(token),
    calls: (filter) => calls.list(filter),
    droppedCalls: () => calls.dropped,
    clearCalls: () => calls.clear(),
    createRecords: (baseId, table, records) =>
      out(baseId, table, store.createRecords(baseId, table, records, ui)),
    updateRecords: (baseId, table, records) =>
      out(baseId, table, store.updateRecords(baseId, table, records, ui)),
    deleteRecords: (baseId, table, ids) => {
      store.deleteRecords(baseId, table, ids, ui);
    },
    createTable: (baseId, input) => schema.createTable(baseId, input, ui),
    renameTable: (baseId, table, name) => schema.updateTable(baseId, table, { name }, ui),
    deleteTable: (baseId, table) => schema.deleteTable(baseId, table, ui),
    createField: (baseId, table, input) => schema.createField(baseId, table, input, ui),
    renameField: (baseId, table, field, name) => schema.updateField(baseId, table, field, { name }, ui),
    changeFieldType: (baseId, table, field, type, options) =>
      schema.changeFieldType(baseId, table, field, type, options, ui),
    deleteField: (baseId, table, field) => schema.deleteField(baseId, table, field, ui),
  };
}
