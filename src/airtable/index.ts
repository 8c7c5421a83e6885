/** The Airtable REST client: one import for the syncer, the proxy and the webhooks code. */
export { createAirtableClient } from './client.ts';
export type {
  AirtableClient,
  AirtableClientOptions,
  AirtableRequestEvent,
  CallOptions,
  ListPage,
  ListRecordsParams,
  RequestOptions,
} from './client.ts';
export { createNodeFetch } from './node-fetch.ts';
export type { NodeFetch, NodeFetchOptions } from './node-fetch.ts';
export { createRateBudget } from './rate-budget.ts';
export type {
  AcquireOptions,
  BudgetPriority,
  RateBudget,
  RateBudgetOptions,
  RateBudgetStats,
} from './rate-budget.ts';
export { withBackoff, withRateBudget, withTimeout, baseIdFromUrl } from './fetch-helpers.ts';
export type { AirtableRequestInit, BackoffOptions, FetchFn, RetryInfo } from './fetch-helpers.ts';
export {
  airtableError,
  connectionError,
  isRetryableError,
  ListingRestartRequired,
  parseAirtableErrorBody,
  parseRetryAfter,
  statusErrorType,
  timeoutError,
  BILLING_LIMIT_TYPE,
  ITERATOR_EXPIRED_TYPE,
  RATE_LIMIT_TYPE,
} from './errors.ts';
export { systemNow, systemSleep } from '../lifecycle/clock.ts';
export type { Now, Sleep } from '../lifecycle/clock.ts';
