import type { Database } from '../db/database.ts';
import type { Logger } from '../log.ts';
import { monthBounds } from './policy.ts';
import {
  buildQuotas,
  sourceDrainWindowMs,
  type QuotaReport,
  type QuotaSettings,
  type TokenQuota,
} from './report.ts';
import {
  loadQuotaRows,
  loadSourceQuotaRows,
  saveBillingPause,
  saveBudget,
  resolveSourceTokenKeys,
} from './store.ts';

export type { TokenQuota } from './report.ts';

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

interface Snapshot {
  at: number;
  byToken: Map<string, TokenQuota>;
  maxLag: Map<string, number>;
  sourceKeys: Map<string, string>;
}

export interface QuotaService {
  /** Every token key airmirror knows: its sources, budget, month to date, projection, state. */
  report(): Promise<TokenQuota[]>;
  /** The same with every source's freshness target (status, /api/quota). */
  fullReport(): Promise<QuotaReport>;
  /** The quota of one source's token (undefined: no token). */
  forSource(sourceId: string): Promise<TokenQuota | undefined>;
  /** How long pings for the source gather before one drain (its freshness target, spaced). */
  drainWindowMs(sourceId: string): Promise<number>;
  /** The quota of a token key from the last figures, without a round trip (undefined: none yet). */
  cached(tokenKey: string): TokenQuota | undefined;
  /** Airtable answered 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED: background work waits for the reset. */
  billingLimitReached(tokenKey: string): Promise<void>;
  setBudget(tokenKey: string, monthlyCalls: number | null | undefined): Promise<void>;
  /** Drops the cached figures (after a change: a source's max_lag_seconds, its token). */
  invalidate(): void;
}

export function createQuotaService(deps: QuotaDeps): QuotaService {
  const refreshMs = deps.refreshMs ?? 5000;
  let snap: Snapshot | undefined;
  let loading: Promise<Snapshot> | undefined;

  async function load(): Promise<Snapshot> {
    const now = deps.now();
    const [counts, rows, sources] = await Promise.all([
      deps.callsByToken?.(new Date(now)) ?? new Map<string, number>(),
      loadQuotaRows(deps.db),
      loadSourceQuotaRows(deps.db),
    ]);
    const sourceKeys = await resolveSourceTokenKeys(deps.db, sources, deps.sourceTokenKey);
    const settings = { defaultBudget: deps.defaultBudget, appShare: deps.appShare };
    const byToken = buildQuotas({ now, settings, counts, rows, sourceKeys });
    return { at: now, byToken, maxLag: new Map(sources.map((s) => [s.id, s.maxLagSeconds])), sourceKeys };
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
    async fullReport() {
      const s = await current();
      return { quotas: [...s.byToken.values()], maxLag: s.maxLag };
    },
    forSource,
    async drainWindowMs(sourceId) {
      const s = await current();
      return sourceDrainWindowMs(s.maxLag.get(sourceId) ?? 60, await forSource(sourceId));
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
    invalidate: () => (snap = undefined),
  };
}

type QuotaConfig = { demo: boolean; quota: { monthlyCalls: number | null; appSharePercent: number } };

/** The quota settings a config asks for (the demo's emulator keeps no monthly quota). */
export function quotaSettingsOf(config: QuotaConfig): QuotaSettings {
  return {
    defaultBudget: config.demo ? null : config.quota.monthlyCalls,
    appShare: config.quota.appSharePercent / 100,
  };
}

/** The quota of `airmirror start`, with its settings from config (src/node.ts). */
export function quotaFromConfig(
  config: QuotaConfig,
  deps: Pick<QuotaDeps, 'db' | 'sourceTokenKey' | 'callsByToken' | 'log'>,
): QuotaService {
  return createQuotaService({ ...deps, now: Date.now, ...quotaSettingsOf(config) });
}
