import type { Migration } from './migration.ts';

/**
 * Subscriptions change (`PATCH /api/subscriptions/{id}`, src/events): a rotated secret keeps
 * signing, beside the new one, until `previous_secret_expires_at` (the overlap receivers need to
 * switch, as Stripe gives); and the recent delivery attempts of each subscription are kept in a
 * ring of DELIVERY_LOG_SIZE slots (src/events/store.ts): slot = attempt number mod the size, so
 * the log is bounded by construction — no pruning job, no growth with traffic.
 */
export const m051_subscription_changes: Migration = {
  version: 51,
  name: 'subscription changes',
  up: [
    `ALTER TABLE airmirror.subscriptions
       ADD COLUMN previous_secret_encrypted text,
       ADD COLUMN previous_secret_expires_at timestamptz,
       ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
       ADD COLUMN delivery_log_seq bigint NOT NULL DEFAULT 0`,
    `CREATE TABLE airmirror.deliveries (
      subscription_id text NOT NULL REFERENCES airmirror.subscriptions(id) ON DELETE CASCADE,
      slot integer NOT NULL,
      seq bigint NOT NULL,
      event_id bigint NOT NULL,
      attempt integer NOT NULL,
      ok boolean NOT NULL,
      http_status integer,
      error text,
      replay boolean NOT NULL DEFAULT false,
      attempted_at timestamptz NOT NULL,
      PRIMARY KEY (subscription_id, slot)
    )`,
  ],
};
