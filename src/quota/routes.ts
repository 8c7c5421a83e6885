import { Hono } from 'hono';
import { apiErrorBody, asAirmirrorError, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseRequest, readJsonBody } from '../validation.ts';
import { serializeReport } from './json.ts';
import { QuotaBudgetRequest } from './schemas.ts';
import type { QuotaService } from './service.ts';

/**
 * `/quota` (every token key's budget, month to date, projection, spacing, pause) and
 * `/quota/{token_key}` (its budget), issue 17. Mounted under `/api`. A source's freshness
 * target is a field of the source (`PATCH /api/sources/{id}` max_lag_seconds); each source's
 * drain window, which the quota stretches, is shown here.
 */
export function quotaRoutes(quota: QuotaService, log?: Logger): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    const e = asAirmirrorError(err);
    if (e.status >= 500) log?.error({ err: (err as Error).message }, 'quota API error');
    return c.json(apiErrorBody(e), e.status as 400);
  });
  app.get('/quota', async (c) => c.json({ quotas: serializeReport(await quota.fullReport()) }));
  app.put('/quota/:token_key', async (c) => {
    const tokenKey = c.req.param('token_key');
    const body = parseRequest(QuotaBudgetRequest, await readJsonBody(c), { requireObject: true });
    const known = (await quota.report()).some((q) => q.tokenKey === tokenKey);
    if (!known) throw notFound(`No token with key ${tokenKey} is known (GET /api/quota lists them)`);
    const calls = body.monthly_calls;
    await quota.setBudget(tokenKey, calls === null ? undefined : calls === 'unlimited' ? null : calls);
    return c.json(serializeReport(await quota.fullReport()).find((q) => q.token_key === tokenKey)!);
  });
  return app;
}
