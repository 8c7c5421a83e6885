import type { Migration } from './migration.ts';

/**
 * Freshness within the monthly Airtable call quota (issue 17, src/quota/).
 *
 * - `sources.max_lag_seconds`: the freshness target of a source's webhook tables. Pings within a
 *   window shorter than it become one payload drain, so a busy base costs a read per window, not
 *   per change.
 * - `call_quotas`: the monthly call budget of a token key (the workspace the token's calls count
 *   against, docs/airtable-reference.md §2.1) when it differs from AIRMIRROR_MONTHLY_CALL_BUDGET
 *   (NULL `monthly_calls` is "unlimited"), and `billing_paused_until`: Airtable answered 429
 *   PUBLIC_API_BILLING_LIMIT_EXCEEDED, so background work for that token waits for the month to
 *   reset. The counts themselves are the shared budget's (airmirror.airtable_calls).
 */
export const m060_quota: Migration = {
  version: 60,
  name: 'monthly call quota',
  up: [
    `ALTER TABLE airmirror.sources ADD COLUMN max_lag_seconds integer NOT NULL DEFAULT 60
       CHECK (max_lag_seconds BETWEEN 1 AND 86400)`,
    `CREATE TABLE airmirror.call_quotas (
      token_key text PRIMARY KEY,
      budget_set boolean NOT NULL DEFAULT false,
      monthly_calls bigint CHECK (monthly_calls IS NULL OR monthly_calls >= 0),
      billing_paused_until timestamptz,
      billing_seen_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
  ],
};
