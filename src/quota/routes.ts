import { Hono } from 'hono';
import { apiErrorBody, asAirmirrorError, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseRequest, readJsonBody } from '../validation.ts';
import { FreshnessRequest, QuotaBudgetRequest } from './schemas.ts';
import type { QuotaService, TokenQuota } from './service.ts';

export function serializeQuota(q: TokenQuota) {
  return {
    token_key: q.tokenKey,
    sources: q.sources,
    monthly_budget: q.budget,
    month_to_date: q.monthToDate,
    projection: q.projection,
    background_limit: q.backgroundLimit,
    spacing: Math.round(q.spacing * 100) / 100,
    paused: q.paused,
    resumes_at: q.resumesAt === null ? null : new Date(q.resumesAt).toISOString(),
  };
}

/**
 * `/quota` (every token's budget, month to date, projection, pause) and `/sources/{id}/freshness`
 * (the freshness target, issue 17). Mounted under `/api`.
 */
export function quotaRoutes(quota: QuotaService, log?: Logger): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const e = asAirmirrorError(err);
    if (e.status >= 500) log?.error({ err: (err as Error).message }, 'quota API error');
    return c.json(apiErrorBody(e), e.status as 400);
  });
  app.get('/quota', async (c) => c.json({ quotas: (await quota.report()).map(serializeQuota) }));
  app.put('/quota/:tokenKey', async (c) => {
    const tokenKey = c.req.param('tokenKey');
    const body = parseRequest(QuotaBudgetRequest, await readJsonBody(c), { requireObject: true });
    const known = (await quota.report()).some((q) => q.tokenKey === tokenKey);
    if (!known) throw notFound(`No token with key ${tokenKey} is known (GET /api/quota lists them)`);
    const calls = body.monthly_calls;
    await quota.setBudget(tokenKey, calls === null ? undefined : calls === 'unlimited' ? null : calls);
    const entry = (await quota.report()).find((q) => q.tokenKey === tokenKey)!;
    return c.json(serializeQuota(entry));
  });
  const freshness = async (sourceId: string) => {
    const window = await quota.drainWindowMs(sourceId);
    const maxLag = await quota.maxLagSeconds(sourceId);
    if (maxLag === undefined) throw notFound(`Source ${sourceId} not found`);
    return {
      source_id: sourceId,
      max_lag_seconds: maxLag,
      drain_window_seconds: Math.round(window / 100) / 10,
    };
  };
  app.get('/sources/:id/freshness', async (c) => c.json(await freshness(c.req.param('id'))));
  app.put('/sources/:id/freshness', async (c) => {
    const id = c.req.param('id');
    const body = parseRequest(FreshnessRequest, await readJsonBody(c), { requireObject: true });
    if (!(await quota.setMaxLag(id, body.max_lag_seconds))) throw notFound(`Source ${id} not found`);
    return c.json(await freshness(id));
  });
  return app;
}
