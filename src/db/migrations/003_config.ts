import type { Migration } from './migration.ts';

/**
 * Sync configuration additions (owned by src/api and src/scheduler). 001 already holds the
 * per-table config columns; these are what the management API and the scheduler add on top.
 */
export const m003_config: Migration = {
  version: 3,
  name: 'config',
  up: [
    // An operator-facing label for a source (PostHog's `description`); optional.
    `ALTER TABLE airmirror.sources ADD COLUMN name text`,
    // Scheduler state. next_run_at is NULL when it must be recomputed from the config (new
    // table, changed frequency): scheduling-only changes then take effect at the next run.
    `ALTER TABLE airmirror.tables ADD COLUMN next_run_at timestamptz`,
    `ALTER TABLE airmirror.tables ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0`,
    // Set by a configuration change that invalidates mirrored data (new incremental field,
    // full_refresh <-> append, ...): the next run is a full resync, never a silent mix of shapes.
    `ALTER TABLE airmirror.tables ADD COLUMN resync_required boolean NOT NULL DEFAULT false`,
    // The append sync type's version table (in the source's mirror schema), once created.
    `ALTER TABLE airmirror.tables ADD COLUMN history_table text`,
    `CREATE INDEX tables_next_run ON airmirror.tables (next_run_at) WHERE should_sync`,
  ],
};
