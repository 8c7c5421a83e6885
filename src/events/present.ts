import type { Database } from '../db/database.ts';
import { notFound } from '../errors.ts';
import type { DeadLetterResponse, SubscriptionResponse } from './schemas.ts';
import { getSubscription } from './store.ts';
import type { DeadLetterRow, SubscriptionRow } from './types.ts';

/** Subscriptions and dead letters as the API shows them (src/events/routes.ts, subscription-changes.ts). */

export async function load(db: Database, id: string): Promise<SubscriptionRow> {
  const row = (await db.query<SubscriptionRow>(getSubscription(id))).rows[0];
  if (!row) throw notFound('No subscription with that id.');
  return row;
}

/** No filter is stored as null; repeats are dropped. */
export function distinct(v: readonly string[] | null | undefined): string[] | null {
  return v && v.length > 0 ? [...new Set(v)] : null;
}

function iso(d: Date | null): string | null {
  return d ? new Date(d).toISOString() : null;
}

/**
 * A subscription's URL as the API shows it: never with a password or user name in it. Such URLs
 * are refused since issue 16, but one stored before may still be there (and can never deliver:
 * fetch refuses it), so it is shown with `redacted` in place of its credentials.
 */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = 'redacted';
    u.password = '';
    return u.toString();
  } catch {
    return '[unparsable url]';
  }
}

/** What the API shows of a subscription: everything but the secrets (and a URL's credentials). */
export function presentSubscription(row: SubscriptionRow): SubscriptionResponse {
  return {
    id: row.id,
    url: shownUrl(row.url),
    tables: row.tables,
    // Stored only after CreateSubscriptionRequest checked each against EVENT_TYPES.
    event_types: row.event_types as SubscriptionResponse['event_types'],
    active: row.active,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    second_signature_until: iso(row.previous_secret_expires_at),
    delivery: {
      cursor: Number(row.cursor),
      attempts: row.attempts,
      failing_event_id: row.failing_event_id === null ? null : Number(row.failing_event_id),
      failing_since: iso(row.failing_since),
      next_attempt_at: iso(row.next_attempt_at),
      last_error: row.last_error,
      delivered_count: Number(row.delivered_count),
      last_delivered_at: iso(row.last_delivered_at),
    },
  };
}

export function presentDeadLetter(row: DeadLetterRow): DeadLetterResponse {
  return {
    event_id: Number(row.event_id),
    event: row.event,
    attempts: row.attempts,
    last_error: row.last_error,
    failed_at: iso(row.failed_at),
    replayed_at: iso(row.replayed_at),
  };
}
