export { quotaGatedFetch, pausedError } from './gate.ts';
export { backgroundState, formatQuota, serializeQuota, serializeReport, type QuotaJson } from './json.ts';
export { storedQuotaReport, type QuotaSettings } from './report.ts';
export { quotaRoutes } from './routes.ts';
export {
  createQuotaService,
  quotaFromConfig,
  quotaSettingsOf,
  type QuotaService,
  type TokenQuota,
} from './service.ts';
export { quotaMetricsCollector } from './metrics.ts';
export { schedulerPace } from './pace.ts';
export { sourceTokenKeyOf } from './source-token.ts';
