import type { Migration } from './migration.ts';

/**
 * Catch-up queue for proxy writes the mirror could not apply (owned by proxy/): Airtable
 * accepted them, so the syncer re-fetches these ids (`drainCatchup`) — ids only, never contents.
 * `table_ref` is the table id when the proxy could resolve it, else the name the app used.
 */
export const m007_proxy: Migration = {
  version: 7,
  name: 'proxy',
  up: [
    `CREATE TABLE airmirror.catchup (
      source_id text NOT NULL REFERENCES airmirror.sources(id) ON DELETE CASCADE,
      table_ref text NOT NULL,
      record_id text NOT NULL,
      op text NOT NULL CHECK (op IN ('upsert', 'delete')),
      queued_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (source_id, table_ref, record_id)
    )`,
  ],
};
