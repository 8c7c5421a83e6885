export { quotaGatedFetch, pausedError } from './gate.ts';
export { quotaRoutes, serializeQuota } from './routes.ts';
export { createQuotaService, quotaFromConfig, type QuotaService, type TokenQuota } from './service.ts';
