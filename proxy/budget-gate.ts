import { BudgetRefusedError, type Departure } from '../src/airtable/budget-types.ts';
import { rateLimitReached } from './errors.ts';

/** The shared request budget (src/airtable createRateBudget / createSharedBudget), as far as the proxy uses it. */
export interface ProxyBudget {
  acquire(
    baseId: string,
    opts: {
      priority: 'high';
      token?: string;
      signal?: AbortSignal;
      /** The fairness key (a token key or a client address; see AcquireOptions.client). */
      client?: string;
      /** Reject (BudgetRefusedError) rather than wait while the base serves a 429 penalty. */
      failWhenPenalized?: boolean;
      /** The proxy reports when Airtable answered (AcquireOptions.reportsAnswer). */
      reportsAnswer?: boolean;
    },
  ): Promise<Departure | undefined>;
  /** Airtable answered 429 RATE_LIMIT_REACHED for this base: everyone holds off (docs/airtable-reference.md §2.1). */
  penalize?(baseId: string): void;
  /** `blockedUntil` is non-null while the base serves a 429 penalty. */
  stats(baseId: string): { blockedUntil: number | null };
  /** Airtable accepted a request to this base: the budget keeps its stats (a bounded set). */
  track?(baseId: string): void;
}

/**
 * Takes a 'high' slot of the budget for an app's request to `baseId`, counted against the app's
 * own token too, or throws Airtable's 429 RATE_LIMIT_REACHED (nothing is sent then):
 * - at once while the base is penalized — known here, or learnt from the shared budget while
 *   waiting: Airtable would answer exactly that for the rest of the 30 s
 *   (docs/airtable-reference.md §2.1), and holding the app for up to 30 s would outlast its timeouts;
 * - at once when this client already has its share of requests waiting for the base (one caller
 *   cannot fill the queue ahead of the others);
 * - when no slot came within `maxWaitMs`: the app's client retries 429 with backoff
 *   (airtable.js does, docs/airtable-reference.md §2.1), which beats a request hanging past the proxy's deadline.
 */
export async function takeBudgetSlot(
  budget: ProxyBudget,
  baseId: string,
  token: string | undefined,
  maxWaitMs: number,
  client?: string,
  reportsAnswer = false,
): Promise<Departure | undefined> {
  if (budget.stats(baseId).blockedUntil !== null) throw rateLimitReached();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(rateLimitReached()), maxWaitMs);
  try {
    return await budget.acquire(baseId, {
      priority: 'high',
      token,
      client,
      signal: controller.signal,
      failWhenPenalized: true,
      reportsAnswer,
    });
  } catch (err) {
    if (controller.signal.aborted || err instanceof BudgetRefusedError) throw rateLimitReached();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
