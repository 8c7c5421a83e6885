import type { Migration } from './migration.ts';

/**
 * Event subscriptions (receivers of signed change events) and their delivery state (owned by
 * src/events). Delivery state lives on the subscription row so a restart resumes exactly where
 * the last pass stopped: `cursor` is the last outbox id this subscription has passed (delivered,
 * filtered out or dead-lettered); the retry state belongs to the event right after it.
 */
export const m004_events: Migration = {
  version: 4,
  name: 'events',
  up: [
    `CREATE TABLE airmirror.subscriptions (
      id text PRIMARY KEY,
      url text NOT NULL,
      secret_encrypted text NOT NULL,
      tables text[],
      event_types text[],
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      cursor bigint NOT NULL DEFAULT 0,
      attempts integer NOT NULL DEFAULT 0,
      failing_event_id bigint,
      failing_since timestamptz,
      next_attempt_at timestamptz,
      last_error text,
      delivered_count bigint NOT NULL DEFAULT 0,
      last_delivered_at timestamptz
    )`,
    `CREATE TABLE airmirror.dead_letters (
      subscription_id text NOT NULL REFERENCES airmirror.subscriptions(id) ON DELETE CASCADE,
      event_id bigint NOT NULL,
      event jsonb NOT NULL,
      attempts integer NOT NULL,
      last_error text,
      failed_at timestamptz NOT NULL,
      replayed_at timestamptz,
      PRIMARY KEY (subscription_id, event_id)
    )`,
  ],
};
