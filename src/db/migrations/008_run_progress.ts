import type { Migration } from './migration.ts';

/**
 * `status` shows how far a running sync has got (sync/run-progress.ts writes the counters of
 * running runs): finding the running run of each table must not scan the whole run history. A
 * run also names its table, so a table whose first sync is still building it (no airmirror.tables
 * row yet) can be shown by name.
 */
export const m008_run_progress: Migration = {
  version: 8,
  name: 'run progress',
  up: [
    `ALTER TABLE airmirror.sync_runs ADD COLUMN table_name text`,
    `CREATE INDEX sync_runs_running ON airmirror.sync_runs (source_id, table_id, id DESC)
       WHERE status = 'running' AND table_id IS NOT NULL`,
  ],
};
