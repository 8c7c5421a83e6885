/**
 * A subscription's delivery log (GET /api/subscriptions/{id}/deliveries): every attempt to POST an
 * event — the deliverer's and a dead letter's replay — with the receiver's answer, in a ring of
 * DELIVERY_LOG_SIZE slots per subscription (store.ts recordDeliveries, migration 051).
 *
 * Why a log rather than state derived from the cursor and the dead letters: the cursor says an
 * event was passed, not when, after how many tries or what the receiver answered, and the outbox
 * rows behind it are pruned as soon as every subscription has passed them. Why a ring: one row per
 * attempt at thousands of events a second would otherwise need its own pruning job and still grow
 * with traffic between passes; a ring of fixed size is bounded by construction, and its writes are
 * one statement per delivery step (up to a batch of events), in the step's own transaction.
 */
import type { PostResult } from './post.ts';
import type { DeliveryAttempt, SubscriptionRow } from './types.ts';

/** The log entries of one delivery step: which try of each event it was, and what came of it. */
export function attemptsOf(
  sub: Pick<SubscriptionRow, 'failing_event_id' | 'attempts'>,
  results: ReadonlyMap<number, PostResult>,
): DeliveryAttempt[] {
  // In event order (the requests of a step finish in any order), so the log reads like the outbox.
  return [...results]
    .sort(([x], [y]) => x - y)
    .map(([eventId, r]) => ({
      eventId,
      // The head event that kept failing is on its next try; everything else on its first.
      attempt:
        sub.failing_event_id !== null && Number(sub.failing_event_id) === eventId ? sub.attempts + 1 : 1,
      ok: r.ok,
      httpStatus: r.status ?? null,
      error: r.ok ? null : r.error,
    }));
}
