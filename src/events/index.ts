export { createDeliverer, type Deliverer, type DelivererOptions, type PassResult } from './deliverer.ts';
export { subscriptionRoutes, type SubscriptionRoutesDeps } from './routes.ts';
export { signEventBody, toChangeEvent } from './event.ts';
export { OUTBOX_CHANNEL } from './listener.ts';
export type { ChangeEvent, EventType, OutboxRow } from './types.ts';
