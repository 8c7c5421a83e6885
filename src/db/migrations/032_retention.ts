import type { Migration } from './migration.ts';

/**
 * Bounded bookkeeping (issue 13, src/bookkeeping/retention.ts): indexes for the pruning
 * statements, and the row fence's pruning horizon — the highest fence value pruned so far. A
 * sweep whose hash-cache mark is below it can no longer learn from the fence which rows other
 * writers changed, so it forgets the table's hashes instead (sync/sweep.ts).
 */
export const m032_retention: Migration = {
  version: 32,
  name: 'retention',
  up: [
    `CREATE INDEX row_fence_at ON airmirror.row_fence (at)`,
    `CREATE INDEX sync_runs_finished ON airmirror.sync_runs (finished_at) WHERE status <> 'running'`,
    `CREATE INDEX outbox_created ON airmirror.outbox (created_at)`,
    `CREATE INDEX dead_letters_failed ON airmirror.dead_letters (failed_at)`,
    `CREATE TABLE airmirror.fence_horizon (
      one boolean PRIMARY KEY DEFAULT true CHECK (one),
      pruned_upto bigint NOT NULL DEFAULT 0
    )`,
    `INSERT INTO airmirror.fence_horizon DEFAULT VALUES`,
  ],
};
