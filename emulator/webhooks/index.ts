export { webhookRoutes, type WebhookRoutesContext } from './routes.ts';
export { EmulatorWebhooks, MAX_PAYLOADS_PER_PAGE, type EmulatorWebhooksOptions } from './service.ts';
export { DEFAULT_NOTIFIER_OPTIONS, type NotifierOptions } from './notifier.ts';
export { buildPayload, errorPayload, invalidation, type HookOptions, type HookScope } from './payloads.ts';
export { storeBaseView, type BaseView } from './base-view.ts';
export { HOOK_TTL_MS, PAYLOAD_RETENTION_MS } from './hook.ts';
