export { createWebhookService, WEBHOOK_SPECIFICATION } from './service.ts';
export type { WebhookService, WebhookServiceDeps, WebhookView } from './service.ts';
export { webhookRoutes, webhookReceiver } from './routes.ts';
export { webhookStrategy } from './strategy.ts';
export { planPayloads, shouldSweep, ALL_FIELDS, type WebhookPlan } from './plan.ts';
export { dependentLinks, closeOverFormulas, type DependentLink } from './dependencies.ts';
export { drainPayloads, type DrainResult } from './apply.ts';
export type { WebhookClient, WebhookSyncer, HashCacheLike, WebhookOwnership } from './types.ts';
export { computeAirtableMac, verifyAirtableMac } from './mac.ts';
