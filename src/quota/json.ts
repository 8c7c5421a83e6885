import { sourceDrainWindowMs, type QuotaReport, type TokenQuota } from './report.ts';

/** One token key's quota as `/api/quota`, `/api/status` and `airmirror status --json` show it. */
export type QuotaJson = ReturnType<typeof serializeQuota>;

const count = (n: number) => n.toLocaleString('en-US');
const times = (spacing: number) => `×${spacing.toFixed(2)}`;

/**
 * What background work does now, in a sentence: as usual, spaced out (by how much, and why), or
 * paused (why, until when).
 */
export function backgroundState(q: TokenQuota): string {
  const until = q.resumesAt === null ? '' : new Date(q.resumesAt).toISOString();
  if (q.paused === 'billing') {
    return `paused until ${until}: Airtable answered 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED (the monthly quota is spent); the apps' calls still go through`;
  }
  if (q.paused === 'apps_share') {
    return `paused until ${until}: ${count(q.monthToDate)} calls this month reached background work's ${count(q.backgroundLimit ?? 0)}; the rest of the budget is the apps'`;
  }
  if (q.budget === null) return 'as usual (unlimited): every ping drains at once';
  if (q.spacing > 1) {
    return `spaced out ${times(q.spacing)}: the projection ${count(q.projection)} passes background work's ${count(q.backgroundLimit ?? 0)}, so drain windows and scheduled syncs (safety-net sweeps of webhook tables included) are ${q.spacing.toFixed(2)} times their usual interval`;
  }
  return 'as usual: the projection fits the budget';
}

export function serializeQuota(q: TokenQuota, maxLag: Map<string, number> = new Map()) {
  return {
    token_key: q.tokenKey,
    monthly_budget: q.budget === null ? ('unlimited' as const) : q.budget,
    apps_share_percent: Math.round(q.appShare * 100),
    month_to_date: q.monthToDate,
    projection: q.projection,
    background_limit: q.backgroundLimit,
    spacing: Math.round(q.spacing * 100) / 100,
    spaced_out: q.paused === null && q.spacing > 1,
    paused: q.paused,
    resumes_at: q.resumesAt === null ? null : new Date(q.resumesAt).toISOString(),
    background: backgroundState(q),
    sources: q.sources.map((id) => {
      const target = maxLag.get(id) ?? 60;
      return {
        source_id: id,
        max_lag_seconds: target,
        drain_window_seconds: Math.round(sourceDrainWindowMs(target, q) / 100) / 10,
      };
    }),
  };
}

export function serializeReport(r: QuotaReport): QuotaJson[] {
  return r.quotas.map((q) => serializeQuota(q, r.maxLag));
}

/** The QUOTA section of `airmirror status`: one block per token key (never the token). */
export function formatQuota(quotas: QuotaJson[]): string {
  if (quotas.length === 0) return '';
  const lines = quotas.flatMap((q) => {
    const budget = q.monthly_budget === 'unlimited' ? 'unlimited' : count(q.monthly_budget);
    const sources = q.sources.map((s) => `${s.source_id} (max lag ${s.max_lag_seconds}s)`).join(', ');
    return [
      `  token ${q.token_key}: ${count(q.month_to_date)} calls this month, projected ${count(q.projection)} of ${budget}` +
        ` (apps' share ${q.apps_share_percent}%)`,
      `    background work ${q.background}`,
      ...(sources ? [`    sources: ${sources}`] : []),
    ];
  });
  return ['', 'QUOTA (Airtable calls, this UTC month)', ...lines].join('\n') + '\n';
}
