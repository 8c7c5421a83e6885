import type { Migration } from './migration.ts';

/**
 * Which token key each source's calls count under (issue 17, src/quota/): written by the
 * process that resolves the source's token (`airmirror start`), read by whoever reports the
 * quota without the token — `airmirror status` on another machine, with no secret key. A key,
 * never the token (docs/DESIGN.md invariant 8).
 */
export const m061_source_token_keys: Migration = {
  version: 61,
  name: 'source token keys',
  up: [
    `CREATE TABLE airmirror.source_token_keys (
      source_id text PRIMARY KEY REFERENCES airmirror.sources (id) ON DELETE CASCADE,
      token_key text NOT NULL,
      seen_at timestamptz NOT NULL DEFAULT now()
    )`,
  ],
};
