import type { Migration } from './migration.ts';

/**
 * Airtable webhook registrations (owned by src/webhooks): one per source. `cursor` is the number
 * of the next payload to read (docs/airtable-reference.md §4.5); it moves in the same transaction as the mirror
 * changes those payloads caused. The MAC secret is stored encrypted (src/crypto).
 */
export const m006_webhooks: Migration = {
  version: 6,
  name: 'webhooks',
  up: [
    `CREATE TABLE airmirror.webhooks (
      source_id text PRIMARY KEY REFERENCES airmirror.sources(id) ON DELETE CASCADE,
      webhook_id text NOT NULL,
      mac_secret_encrypted text NOT NULL,
      cursor bigint NOT NULL DEFAULT 1,
      expiration_time timestamptz,
      notification_url text NOT NULL,
      status text NOT NULL DEFAULT 'active',
      last_error text,
      last_ping_at timestamptz,
      last_payload_at timestamptz,
      recreated_count integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      refreshed_at timestamptz
    )`,
  ],
};
