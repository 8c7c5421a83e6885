/**
 * Bounded bookkeeping (issue 13): what airmirror keeps about its own work is pruned on a schedule
 * (retention-loop.ts), so its tables stay flat however long it runs. Each statement deletes at
 * most `batch` rows (short locks), and is repeated while it finds that many.
 *
 * - `airmirror.row_fence`: stamps older than the fence retention. A stamp protects a row from a
 *   listing page fetched before it; no page, listing or rebuild is in flight that long. The
 *   highest value pruned is kept (`fence_horizon`), so a sweep whose hash-cache mark is older
 *   forgets its hashes instead of trusting stamps that are gone (sync/sweep.ts).
 * - `airmirror.sync_runs`: finished runs older than the run retention — except the newest of
 *   each table and kind, which status shows.
 * - `airmirror.outbox`: events every active subscription has passed (delivered, filtered out or
 *   dead-lettered); with no active subscription, events older than the outbox retention (the
 *   event deliverer does the same after each pass; this also covers processes without one).
 * - `airmirror.dead_letters`: dead letters older than the dead-letter retention.
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

export interface RetentionSettings {
  fenceMs: number;
  runsMs: number;
  outboxMs: number;
  deadLettersMs: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The defaults of the AIRMIRROR_*_RETENTION_* variables (src/config.ts). */
export const DEFAULT_RETENTION: RetentionSettings = {
  fenceMs: 7 * DAY,
  runsMs: 30 * DAY,
  outboxMs: HOUR,
  deadLettersMs: 30 * DAY,
};

export interface Pruned {
  fences: number;
  runs: number;
  outbox: number;
  deadLetters: number;
}

const pruneFences = (before: Date, batch: number) =>
  sql(
    `WITH d AS (
       DELETE FROM airmirror.row_fence WHERE ctid IN (SELECT ctid FROM airmirror.row_fence WHERE at < $1 LIMIT $2)
       RETURNING fence
     ), h AS (
       UPDATE airmirror.fence_horizon SET pruned_upto = GREATEST(pruned_upto, (SELECT max(fence) FROM d))
        WHERE (SELECT max(fence) FROM d) IS NOT NULL
     )
     SELECT count(*)::int AS n FROM d`,
    [before, batch],
  );

const pruneRuns = (before: Date, batch: number) =>
  sql(
    `WITH d AS (
       DELETE FROM airmirror.sync_runs WHERE id IN (
         SELECT x.id FROM airmirror.sync_runs x
          WHERE x.status <> 'running' AND x.finished_at < $1
            AND EXISTS (SELECT 1 FROM airmirror.sync_runs n
                         WHERE n.source_id = x.source_id AND n.table_id IS NOT DISTINCT FROM x.table_id
                           AND n.kind = x.kind AND n.id > x.id AND n.status <> 'running')
          LIMIT $2)
       RETURNING 1
     )
     SELECT count(*)::int AS n FROM d`,
    [before, batch],
  );

const pruneOutbox = (before: Date, batch: number) =>
  sql(
    `WITH active AS (SELECT min(cursor) AS upto, count(*) AS n FROM airmirror.subscriptions WHERE active),
     d AS (
       DELETE FROM airmirror.outbox WHERE id IN (
         SELECT o.id FROM airmirror.outbox o, active
          WHERE CASE WHEN active.n > 0 THEN o.id <= active.upto ELSE o.created_at < $1 END
          ORDER BY o.id LIMIT $2)
       RETURNING 1
     )
     SELECT count(*)::int AS n FROM d`,
    [before, batch],
  );

const pruneDeadLetters = (before: Date, batch: number) =>
  sql(
    `WITH d AS (
       DELETE FROM airmirror.dead_letters WHERE ctid IN (
         SELECT ctid FROM airmirror.dead_letters WHERE failed_at < $1 LIMIT $2)
       RETURNING 1
     )
     SELECT count(*)::int AS n FROM d`,
    [before, batch],
  );

/** One pruning pass over every bookkeeping table, as of `now`. */
export async function pruneBookkeeping(
  q: Queryable,
  settings: RetentionSettings,
  now: Date,
  batch = 5_000,
): Promise<Pruned> {
  const t = now.getTime();
  const all = async (make: (before: Date, batch: number) => ReturnType<typeof sql>, before: number) => {
    let total = 0;
    for (;;) {
      const n = (await q.query<{ n: number }>(make(new Date(before), batch))).rows[0].n;
      total += n;
      if (n < batch) return total;
    }
  };
  return {
    fences: await all(pruneFences, t - settings.fenceMs),
    runs: await all(pruneRuns, t - settings.runsMs),
    outbox: await all(pruneOutbox, t - settings.outboxMs),
    deadLetters: await all(pruneDeadLetters, t - settings.deadLettersMs),
  };
}
