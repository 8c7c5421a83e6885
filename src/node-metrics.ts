/**
 * What `airmirror start` measures for /metrics beyond the components' own counters: Airtable's
 * answers by status and 429s per base, the proxy's upstream time, the shared budget's waits, and
 * the outcome of each sync run.
 */
import type { RateBudget } from './airtable/index.ts';
import type { SharedBudget } from './airtable/shared-budget.ts';
import type { Metrics } from './metrics.ts';

/** Counts Airtable answers by status (syncer, webhooks, API), and 429s per base. */
export function instrumentFetch(f: typeof fetch, metrics: Metrics): typeof fetch {
  return async (input, init) => {
    const res = await f(input, init);
    metrics.airtableRequests.inc({ status: String(res.status) });
    if (res.status === 429) metrics.airtable429.inc({ base: baseOf(input) });
    return res;
  };
}

/** Times the proxy's upstream calls (headers received). */
export function instrumentUpstream(f: typeof fetch, metrics: Metrics): typeof fetch {
  return async (input, init) => {
    const end = metrics.proxyUpstreamSeconds.startTimer({ method: init?.method ?? 'GET' });
    try {
      const res = await f(input, init);
      if (res.status === 429) metrics.airtable429.inc({ base: baseOf(input) });
      return res;
    } finally {
      end();
    }
  };
}

function baseOf(input: RequestInfo | URL): string {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return /\/(app[A-Za-z0-9]{14})(?:\/|$)/.exec(url)?.[1] ?? 'unknown';
}

/** The budget counts its own waits; the scrape adds what accumulated since the last one. */
export function budgetWaitsCollector(
  budget: RateBudget & Pick<SharedBudget, 'degraded' | 'paced'>,
  metrics: Metrics,
): () => void {
  const seen = new Map<string, { waits: number; tokenWaits: number }>();
  let paced = 0;
  return () => {
    metrics.rateBudgetDegraded.set(budget.degraded() ? 1 : 0);
    const pacedNow = budget.paced();
    if (pacedNow > paced) metrics.rateBudgetPaced.inc(pacedNow - paced);
    paced = pacedNow;
    const all = budget.allStats();
    // Only the tracked bases (bounded): one that left the set starts again from zero if it returns.
    for (const base of seen.keys()) if (!(base in all)) seen.delete(base);
    for (const [base, stats] of Object.entries(all)) {
      const before = seen.get(base) ?? { waits: 0, tokenWaits: 0 };
      if (stats.waits > before.waits) metrics.rateBudgetWaits.inc({ base }, stats.waits - before.waits);
      if (stats.tokenWaits > before.tokenWaits)
        metrics.rateBudgetTokenWaits.inc({ base }, stats.tokenWaits - before.tokenWaits);
      seen.set(base, { waits: stats.waits, tokenWaits: stats.tokenWaits });
    }
  };
}

interface RunResultLike {
  status?: string;
  tableName?: string;
  mirrorTable?: string;
  error?: string;
  counters?: Record<string, number>;
}

/** Sync-run metrics (the syncer itself writes the one log line per run). */
export function observeRun(metrics: Metrics, result: unknown, seconds?: number): void {
  const r = result as RunResultLike | undefined;
  if (!r?.status) return;
  metrics.syncRuns.inc({ status: r.status });
  if (r.status === 'Skipped') return;
  if (seconds !== undefined) metrics.sweepSeconds.observe({ sync_type: 'any' }, seconds);
  const c = r.counters ?? {};
  const table = r.mirrorTable ?? r.tableName ?? 'unknown';
  const upserted = (c.inserted ?? 0) + (c.updated ?? 0);
  const skipped = (c.cached ?? 0) + (c.unchanged ?? 0);
  if (upserted) metrics.records.inc({ table, action: 'upserted' }, upserted);
  if (skipped) metrics.records.inc({ table, action: 'skipped' }, skipped);
  if (c.deleted) metrics.records.inc({ table, action: 'deleted' }, c.deleted);
}
