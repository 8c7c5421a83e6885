import { rateLimitReached } from './errors.ts';

/** The shared request budget (src/airtable createRateBudget), as far as the proxy uses it. */
export interface ProxyBudget {
  acquire(baseId: string, opts: { priority: 'high'; token?: string; signal?: AbortSignal }): Promise<unknown>;
  /** Airtable answered 429 RATE_LIMIT_REACHED for this base: everyone holds off (docs/airtable-reference.md §2.1). */
  penalize?(baseId: string): void;
  /** `blockedUntil` is non-null while the base serves a 429 penalty. */
  stats(baseId: string): { blockedUntil: number | null };
}

/**
 * Takes a 'high' slot of the budget for an app's request to `baseId`, counted against the app's
 * own token too, or throws Airtable's 429 RATE_LIMIT_REACHED (nothing is sent then):
 * - at once while the base is penalized: Airtable would answer exactly that for the rest of the
 *   30 s (docs/airtable-reference.md §2.1), and holding the app for up to 30 s would outlast its timeouts;
 * - when no slot came within `maxWaitMs`: the app's client retries 429 with backoff
 *   (airtable.js does, docs/airtable-reference.md §2.1), which beats a request hanging past the proxy's deadline.
 */
export async function takeBudgetSlot(
  budget: ProxyBudget,
  baseId: string,
  token: string | undefined,
  maxWaitMs: number,
): Promise<void> {
  if (budget.stats(baseId).blockedUntil !== null) throw rateLimitReached();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(rateLimitReached()), maxWaitMs);
  try {
    await budget.acquire(baseId, { priority: 'high', token, signal: controller.signal });
  } catch (err) {
    if (controller.signal.aborted) throw rateLimitReached();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
