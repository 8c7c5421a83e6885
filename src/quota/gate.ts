import { tokenKeyOf } from '../airtable/token-key.ts';
import { BILLING_LIMIT_TYPE, parseAirtableErrorBody } from '../airtable/errors.ts';
import { AirmirrorError } from '../errors.ts';
import type { QuotaService } from './service.ts';

/**
 * The fetch of airmirror's own (background) Airtable calls — syncer, webhooks, catch-up — with
 * the monthly quota in front (issue 17). While a token's background work is paused (Airtable's
 * billing 429, or the apps' share reached) a request is refused here, unsent, with a 429
 * PUBLIC_API_BILLING_LIMIT_EXCEEDED naming the date work resumes; the client never retries it
 * (docs/airtable-reference.md §2.1). A billing 429 from Airtable pauses the token. The proxy's
 * fetch is not this one: the apps' calls go out, and come back, unchanged.
 */
export function quotaGatedFetch(fetchFn: typeof fetch, quota: QuotaService): typeof fetch {
  return async (input, init) => {
    const auth = new Headers(init?.headers).get('authorization');
    const token = auth?.replace(/^Bearer\s+/i, '');
    const key = token ? tokenKeyOf(token) : undefined;
    const state = key ? quota.cached(key) : undefined;
    if (state?.paused && state.resumesAt !== null) throw pausedError(state.paused, state.resumesAt);
    const res = await fetchFn(input, init);
    if (res.status === 429 && key) {
      const type = parseAirtableErrorBody(await res.clone().text()).type;
      if (type === BILLING_LIMIT_TYPE) await quota.billingLimitReached(key).catch(() => undefined);
    }
    return res;
  };
}

export function pausedError(reason: 'billing' | 'apps_share', resumesAt: number): AirmirrorError {
  const date = new Date(resumesAt).toISOString();
  const why =
    reason === 'billing'
      ? 'Airtable answered 429 PUBLIC_API_BILLING_LIMIT_EXCEEDED: the monthly call quota is spent'
      : "the calls counted this month reached background work's part of the monthly budget (the rest is the apps')";
  return new AirmirrorError(BILLING_LIMIT_TYPE, 429, `Background work paused until ${date}: ${why}`, {
    details: { retryable: false, resumesAt: date },
  });
}
