import type { Migration } from './migration.ts';

/**
 * syncer state (owned by sync/). The base columns of `airmirror.sync_runs` are in 001; these are
 * the finer counters a sweep keeps (records_skipped = cache hits + unchanged + fenced out, split
 * here so a run can be explained), the listing restarts after expired iterators, and whether the
 * run rebuilt the base through the swap schema.
 */
export const m005_sync: Migration = {
  version: 5,
  name: 'sync',
  up: [
    `ALTER TABLE airmirror.sync_runs
      ADD COLUMN records_inserted integer NOT NULL DEFAULT 0,
      ADD COLUMN records_updated integer NOT NULL DEFAULT 0,
      ADD COLUMN records_unchanged integer NOT NULL DEFAULT 0,
      ADD COLUMN records_cached integer NOT NULL DEFAULT 0,
      ADD COLUMN records_fenced_out integer NOT NULL DEFAULT 0,
      ADD COLUMN listing_restarts integer NOT NULL DEFAULT 0,
      ADD COLUMN rebuild boolean NOT NULL DEFAULT false,
      ADD COLUMN schema_hash text`,
    `CREATE INDEX sync_runs_table_started ON airmirror.sync_runs (source_id, table_id, started_at DESC)`,
  ],
};
