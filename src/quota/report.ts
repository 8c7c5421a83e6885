import { callsThisMonthByToken } from '../bookkeeping/airtable-calls.ts';
import type { Queryable } from '../db/database.ts';
import { drainWindowMs, quotaState, type QuotaState } from './policy.ts';
import { loadQuotaRows, loadSourceQuotaRows, type QuotaRow } from './store.ts';

/** The quota settings of a process (AIRMIRROR_MONTHLY_CALL_BUDGET, AIRMIRROR_QUOTA_APP_SHARE). */
export interface QuotaSettings {
  /** Calls a month per token; null is unlimited. */
  defaultBudget: number | null;
  /** The part of a budget background work leaves to the apps, [0, 1). */
  appShare: number;
}

export interface TokenQuota extends QuotaState {
  tokenKey: string;
  /** The sources whose calls count under this token key. */
  sources: string[];
  appShare: number;
}

/** The count of calls no token could be named for (src/bookkeeping/airtable-calls.ts). */
const UNATTRIBUTED = '*';

/** Every token key's quota, with each source's freshness target. */
export interface QuotaReport {
  quotas: TokenQuota[];
  /** max_lag_seconds of every source. */
  maxLag: Map<string, number>;
}

/**
 * Every token key's figures (pure): the keys of the sources, of the budgets set and of the calls
 * counted this month (an app's own token through the proxy counts against its workspace too;
 * `'*'`, the calls that could not be attributed, is no token), each with its budget, month to
 * date, projection and state.
 */
export function buildQuotas(opts: {
  now: number;
  settings: QuotaSettings;
  counts: Map<string, number>;
  rows: QuotaRow[];
  /** source id → token key. */
  sourceKeys: Map<string, string>;
}): Map<string, TokenQuota> {
  const { now, settings } = opts;
  const rowOf = new Map<string, QuotaRow>(opts.rows.map((r) => [r.tokenKey, r]));
  const counted = [...opts.counts.keys()].filter((k) => k !== UNATTRIBUTED);
  const keys = new Set([...opts.sourceKeys.values(), ...opts.rows.map((r) => r.tokenKey), ...counted]);
  const out = new Map<string, TokenQuota>();
  for (const key of [...keys].sort()) {
    const row = rowOf.get(key);
    const state = quotaState({
      budget: row?.budgetSet ? row.monthlyCalls : settings.defaultBudget,
      monthToDate: opts.counts.get(key) ?? 0,
      now,
      appShare: settings.appShare,
      billingPausedUntil: row?.billingPausedUntil?.getTime() ?? null,
    });
    const sources = [...opts.sourceKeys].filter(([, k]) => k === key).map(([id]) => id);
    out.set(key, { tokenKey: key, sources, appShare: settings.appShare, ...state });
  }
  return out;
}

/**
 * How long pings for a source gather before one drain: its freshness target, spaced by its
 * token's quota; 0 on an unlimited plan that is not paused (calls are plentiful: every ping
 * drains at once, the target is only a bound).
 */
export function sourceDrainWindowMs(maxLagSeconds: number, quota: TokenQuota | undefined): number {
  if (quota && quota.budget === null && !quota.paused) return 0;
  return drainWindowMs(maxLagSeconds, quota?.spacing ?? 1);
}

/**
 * The quota as the database records it, for a reader without the tokens (`airmirror status`):
 * each source's token key as the running process last recorded it.
 */
export async function storedQuotaReport(
  q: Queryable,
  settings: QuotaSettings,
  now: number,
): Promise<QuotaReport> {
  const [counts, rows, sources] = await Promise.all([
    callsThisMonthByToken(q, { at: new Date(now) }),
    loadQuotaRows(q),
    loadSourceQuotaRows(q),
  ]);
  const sourceKeys = new Map<string, string>();
  for (const s of sources) if (s.tokenKey) sourceKeys.set(s.id, s.tokenKey);
  const quotas = buildQuotas({ now, settings, counts, rows, sourceKeys });
  return { quotas: [...quotas.values()], maxLag: new Map(sources.map((s) => [s.id, s.maxLagSeconds])) };
}
