import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every Prometheus metric airmirror exports, in one registry per process (tests make their own).
 * Components receive the `Metrics` object and only call `.inc()` / `.observe()`; gauges that
 * describe Postgres state (lag, outbox depth) are filled by collectors at scrape time.
 */
export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'airmirror_process_' });
  const registers = [registry];

  return {
    registry,
    proxyRequests: new Counter({
      name: 'airmirror_proxy_requests_total',
      help: 'Requests through the proxy by method and status',
      labelNames: ['method', 'status'] as const,
      registers,
    }),
    proxyUpstreamSeconds: new Histogram({
      name: 'airmirror_proxy_upstream_seconds',
      help: 'Time Airtable took to answer proxied requests',
      labelNames: ['method'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    mirrorApplySeconds: new Histogram({
      name: 'airmirror_mirror_apply_seconds',
      help: 'Time to apply a batch to the mirror, by origin',
      labelNames: ['origin'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    mirrorApplyFailures: new Counter({
      name: 'airmirror_mirror_apply_failures_total',
      help: 'Mirror applies that failed (queued for catch-up), by origin',
      labelNames: ['origin'] as const,
      registers,
    }),
    sweepSeconds: new Histogram({
      name: 'airmirror_sweep_seconds',
      help: 'Duration of table syncs, by sync type',
      labelNames: ['sync_type'] as const,
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
    records: new Counter({
      name: 'airmirror_records_total',
      help: 'Records handled by syncs: upserted, skipped (unchanged) or deleted',
      labelNames: ['table', 'action'] as const,
      registers,
    }),
    syncRuns: new Counter({
      name: 'airmirror_sync_runs_total',
      help: 'Table sync runs by outcome',
      labelNames: ['status'] as const,
      registers,
    }),
    tableLagSeconds: new Gauge({
      name: 'airmirror_table_lag_seconds',
      help: 'Seconds since each table last synced successfully',
      labelNames: ['source', 'table'] as const,
      registers,
    }),
    rateBudgetWaits: new Counter({
      name: 'airmirror_rate_budget_waits_total',
      help: 'Requests that waited for the per-base request budget',
      labelNames: ['base'] as const,
      registers,
    }),
    rateBudgetTokenWaits: new Counter({
      name: 'airmirror_rate_budget_token_waits_total',
      help: "Requests to a base held back by their token's 50 requests/s across bases (labelled by base, never by token)",
      labelNames: ['base'] as const,
      registers,
    }),
    rateBudgetPaced: new Counter({
      name: 'airmirror_rate_budget_paced_total',
      help: 'Requests granted a slot but held before leaving: an earlier request of their base left late, or its answer was slow (Airtable may have counted it late)',
      registers,
    }),
    rateBudgetClaimSeconds: new Histogram({
      name: 'airmirror_rate_budget_claim_seconds',
      help: 'Round trip of a claim of request slots from the shared budget in Postgres',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    rateBudgetFallbackClaims: new Counter({
      name: 'airmirror_rate_budget_fallback_claims_total',
      help: "Claims answered by the process's own fallback share while Postgres did not answer",
      registers,
    }),
    rateBudgetDegraded: new Gauge({
      name: 'airmirror_rate_budget_degraded',
      help: '1 while the shared request budget runs on the fallback share (Postgres away), else 0',
      registers,
    }),
    airtable429: new Counter({
      name: 'airmirror_airtable_429_total',
      help: '429 answers received from Airtable',
      labelNames: ['base'] as const,
      registers,
    }),
    airtableRequests: new Counter({
      name: 'airmirror_airtable_requests_total',
      help: 'Requests sent to Airtable by the syncer and webhooks, by status',
      labelNames: ['status'] as const,
      registers,
    }),
    outboxDepth: new Gauge({
      name: 'airmirror_outbox_depth',
      help: 'Change events not yet delivered to every subscription',
      registers,
    }),
    baseOwner: new Gauge({
      name: 'airmirror_base_owner',
      help: 'Which process owns each base now (1 per base, labelled with the owner); read from Postgres',
      labelNames: ['source', 'process_id', 'host', 'pid'] as const,
      registers,
    }),
    processHeartbeatAgeSeconds: new Gauge({
      name: 'airmirror_process_heartbeat_age_seconds',
      help: 'Seconds since each airmirror process on this Postgres last sent its heartbeat',
      labelNames: ['process_id', 'host', 'pid', 'role'] as const,
      registers,
    }),
    // The monthly Airtable call quota per token key (never the token; src/quota), read at scrape.
    quotaMonthToDate: new Gauge({
      name: 'airmirror_quota_month_to_date_calls',
      help: 'Airtable calls counted this UTC month per token key, every process and the proxy',
      labelNames: ['token_key'] as const,
      registers,
    }),
    quotaProjection: new Gauge({
      name: 'airmirror_quota_projection_calls',
      help: 'Airtable calls the month will have seen at the rate so far, per token key',
      labelNames: ['token_key'] as const,
      registers,
    }),
    quotaBudget: new Gauge({
      name: 'airmirror_quota_budget_calls',
      help: 'The monthly call budget per token key (+Inf: unlimited)',
      labelNames: ['token_key'] as const,
      registers,
    }),
    quotaAppShare: new Gauge({
      name: 'airmirror_quota_app_share_ratio',
      help: "The part of a token key's budget background work leaves to the apps' calls",
      labelNames: ['token_key'] as const,
      registers,
    }),
    quotaSpacing: new Gauge({
      name: 'airmirror_quota_spacing_ratio',
      help: 'How many times their usual interval drain windows and scheduled syncs take now, per token key (1: as usual)',
      labelNames: ['token_key'] as const,
      registers,
    }),
    quotaPaused: new Gauge({
      name: 'airmirror_quota_paused',
      help: "1 while a token key's background work is paused (reason billing: Airtable's 429; apps_share: background's part spent)",
      labelNames: ['token_key', 'reason'] as const,
      registers,
    }),
    quotaResumesAt: new Gauge({
      name: 'airmirror_quota_resumes_at_seconds',
      help: "When a paused token key's background work resumes (the month's reset), Unix seconds",
      labelNames: ['token_key'] as const,
      registers,
    }),
    eventDeliveryFailures: new Counter({
      name: 'airmirror_event_delivery_failures_total',
      help: 'Failed attempts to deliver change events to receivers',
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
