import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { drainWindowMs, monthBounds, quotaState, type QuotaState } from './policy.ts';
import {
  loadMaxLag,
  loadQuotaRows,
  saveBillingPause,
  saveBudget,
  saveMaxLag,
  type QuotaRow,
} from './store.ts';

/**
 * The monthly call quota of each Airtable token key (the workspace its calls count against,
 * docs/airtable-reference.md §2.1), over the counts the shared request budget keeps for every
 * call of every process (`callsByToken`). Figures are read at most every `refreshMs`, so the
 * checks made before each background request and at each ping cost no round trip.
 */
export interface QuotaDeps {
  db: Database;
  now: () => number;
  /** AIRMIRROR_MONTHLY_CALL_BUDGET: calls a month per token; null is unlimited. */
  defaultBudget: number | null;
  /** AIRMIRROR_QUOTA_APP_SHARE: the part of a budget background work leaves to the apps. */
  appShare: number;
  /**
   * Month-to-date calls per token key, all bases, all processes (the shared request budget's
   * counts). Without it the month to date is unknown (0) and only Airtable's billing 429 pauses.
   */
  callsByToken?: (at: Date) => Promise<Map<string, number>>;
  /** The token key a source's calls are counted under; undefined when it has no token. */
  sourceTokenKey: (sourceId: string) => Promise<string | undefined>;
  log?: Logger;
  /** Default 5 s. */
  refreshMs?: number;
}

export interface TokenQuota extends QuotaState {
  tokenKey: string;
  sources: string[];
}

interface Snapshot {
  at: number;
  byToken: Map<string, TokenQuota>;
  maxLag: Map<string, number>;
  sourceKeys: Map<string, string>;
}

export interface QuotaService {
  /** Every token key airmirror knows: its sources, budget, month to date, projection, state. */
  report(): Promise<TokenQuota[]>;
  /** The quota of one source's token (undefined: no token). */
  forSource(sourceId: string): Promise<TokenQuota | undefined>;
  /** How long pings for the source gather before one drain (its freshness target, spaced). */
  drainWindowMs(sourceId: string): Promise<number>;
  /** The quota of a token key from the last figures, without a round trip (undefined: none yet). */
  cached(tokenKey: string): TokenQuota | undefined;
  /** Airtable answered 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED: background work waits for the reset. */
  billingLimitReached(tokenKey: string): Promise<void>;
  setBudget(tokenKey: string, monthlyCalls: number | null | undefined): Promise<void>;
  setMaxLag(sourceId: string, seconds: number): Promise<boolean>;
  /** The source's freshness target; undefined when there is no such source. */
  maxLagSeconds(sourceId: string): Promise<number | undefined>;
  /** Drops the cached figures (after a change). */
  invalidate(): void;
}

export function createQuotaService(deps: QuotaDeps): QuotaService {
  const refreshMs = deps.refreshMs ?? 5000;
  let snap: Snapshot | undefined;
  let loading: Promise<Snapshot> | undefined;

  async function load(): Promise<Snapshot> {
    const now = deps.now();
    const [counts, rows, maxLag] = await Promise.all([
      deps.callsByToken?.(new Date(now)) ?? new Map<string, number>(),
      loadQuotaRows(deps.db),
      loadMaxLag(deps.db),
    ]);
    const sourceKeys = new Map<string, string>();
    for (const id of maxLag.keys()) {
      const key = await deps.sourceTokenKey(id).catch(() => undefined);
      if (key) sourceKeys.set(id, key);
    }
    const rowOf = new Map<string, QuotaRow>(rows.map((r) => [r.tokenKey, r]));
    const keys = new Set([...sourceKeys.values(), ...rows.map((r) => r.tokenKey)]);
    const byToken = new Map<string, TokenQuota>();
    for (const key of keys) {
      const row = rowOf.get(key);
      const state = quotaState({
        budget: row?.budgetSet ? row.monthlyCalls : deps.defaultBudget,
        monthToDate: counts.get(key) ?? 0,
        now,
        appShare: deps.appShare,
        billingPausedUntil: row?.billingPausedUntil?.getTime() ?? null,
      });
      const sources = [...sourceKeys].filter(([, k]) => k === key).map(([id]) => id);
      byToken.set(key, { tokenKey: key, sources, ...state });
    }
    return { at: now, byToken, maxLag, sourceKeys };
  }

  async function current(): Promise<Snapshot> {
    if (snap && deps.now() - snap.at < refreshMs) return snap;
    loading ??= load().finally(() => (loading = undefined));
    snap = await loading;
    return snap;
  }

  /** New figures after a change: a load already in flight may have read the rows before it. */
  async function reload(): Promise<void> {
    await loading?.catch(() => undefined);
    snap = undefined;
    await current();
  }

  async function forSource(sourceId: string): Promise<TokenQuota | undefined> {
    const s = await current();
    const key = s.sourceKeys.get(sourceId);
    return key ? s.byToken.get(key) : undefined;
  }

  return {
    report: async () => [...(await current()).byToken.values()],
    forSource,
    async drainWindowMs(sourceId) {
      const s = await current();
      const quota = await forSource(sourceId);
      // An unlimited plan: calls are plentiful, so every ping drains at once (the target is a bound).
      if (quota && quota.budget === null && !quota.paused) return 0;
      return drainWindowMs(s.maxLag.get(sourceId) ?? 60, quota?.spacing ?? 1);
    },
    cached(tokenKey) {
      // Stale figures are refreshed in the background; the caller decides on what is there.
      if ((!snap || deps.now() - snap.at >= refreshMs) && !loading) void current().catch(() => undefined);
      return snap?.byToken.get(tokenKey);
    },
    async billingLimitReached(tokenKey) {
      const now = deps.now();
      const { reset } = monthBounds(now);
      await saveBillingPause(deps.db, tokenKey, new Date(reset), new Date(now));
      deps.log?.warn(
        { tokenKey, resumesAt: new Date(reset).toISOString() },
        'Airtable monthly call quota spent (429 PUBLIC_API_BILLING_LIMIT_EXCEEDED): background work paused until the month resets',
      );
      await reload();
    },
    async setBudget(tokenKey, monthlyCalls) {
      await saveBudget(deps.db, tokenKey, {
        set: monthlyCalls !== undefined,
        monthlyCalls: monthlyCalls ?? null,
      });
      await reload();
    },
    async setMaxLag(sourceId, seconds) {
      const ok = await saveMaxLag(deps.db, sourceId, seconds);
      await reload();
      return ok;
    },
    maxLagSeconds: async (sourceId) => (await current()).maxLag.get(sourceId),
    invalidate: () => (snap = undefined),
  };
}

/** The quota of `airmirror start`, with its settings from config (src/node.ts). */
export function quotaFromConfig(
  config: { demo: boolean; quota: { monthlyCalls: number | null; appSharePercent: number } },
  deps: Pick<QuotaDeps, 'db' | 'sourceTokenKey' | 'callsByToken' | 'log'>,
): QuotaService {
  return createQuotaService({
    ...deps,
    now: Date.now,
    // The demo's emulator keeps no monthly quota.
    defaultBudget: config.demo ? null : config.quota.monthlyCalls,
    appShare: config.quota.appSharePercent / 100,
  });
}
