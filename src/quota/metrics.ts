import type { Metrics } from '../metrics.ts';
import type { QuotaService } from './service.ts';

/** The quota's gauges, filled at scrape time from the quota's last figures (src/metrics.ts). */
export function quotaMetricsCollector(quota: QuotaService, metrics: Metrics): () => Promise<void> {
  const gauges = [
    metrics.quotaMonthToDate,
    metrics.quotaProjection,
    metrics.quotaBudget,
    metrics.quotaAppShare,
    metrics.quotaSpacing,
    metrics.quotaPaused,
    metrics.quotaResumesAt,
  ];
  return async () => {
    const quotas = await quota.report();
    for (const g of gauges) g.reset();
    for (const q of quotas) {
      const token_key = q.tokenKey;
      metrics.quotaMonthToDate.set({ token_key }, q.monthToDate);
      metrics.quotaProjection.set({ token_key }, q.projection);
      metrics.quotaBudget.set({ token_key }, q.budget ?? Number.POSITIVE_INFINITY);
      metrics.quotaAppShare.set({ token_key }, q.appShare);
      metrics.quotaSpacing.set({ token_key }, q.spacing);
      for (const reason of ['billing', 'apps_share'] as const)
        metrics.quotaPaused.set({ token_key, reason }, q.paused === reason ? 1 : 0);
      if (q.resumesAt !== null) metrics.quotaResumesAt.set({ token_key }, Math.floor(q.resumesAt / 1000));
    }
  };
}
