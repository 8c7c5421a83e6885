/**
 * What a finished run leaves in the table's schedule (src/bookkeeping/schedule.ts): the outcome
 * decided from what the syncer reported, the next run, backing off after failures. Pure
 * decisions plus the one write per outcome; the Scheduler calls it after every run.
 */
import {
  recordRunFailure,
  recordRunStopped,
  recordRunSuccess,
  runLeftovers,
  type Table,
} from '../bookkeeping/index.ts';
import type { Database } from '../db/database.ts';
import type { AirmirrorError } from '../errors.ts';
import { asAirmirrorError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffMs, jitterMs, nextRunAt } from './schedule.ts';

export type RunOutcome = 'succeeded' | 'failed' | 'cancelled' | 'skipped' | 'interrupted';

export interface SettleArgs {
  db: Database;
  t: Table;
  full: boolean;
  signal: AbortSignal;
  startedAt: number;
  now: number;
  thrown: unknown;
  result: unknown;
  random: () => number;
  log?: Logger;
}

interface Reported {
  status?: unknown;
  error?: unknown;
  rebuild?: unknown;
  interrupted?: unknown;
}

/**
 * Decides the outcome of a run and reschedules. The syncer's `syncTable` resolves with a result
 * whose `status` says Completed / Failed / Cancelled / Skipped (it records failures rather than
 * throwing); a run that throws failed. An interrupted run (the process stopped, or lost the base)
 * leaves the schedule alone: it stays due, so whoever owns the base next runs it at once.
 */
export async function settleRun(a: SettleArgs): Promise<RunOutcome> {
  const { db, t } = a;
  const reported = (a.result as Reported | undefined) ?? {};
  if (reported.interrupted === true) return 'interrupted';
  const cur = await runLeftovers(db, t.id);
  if (!cur) return 'cancelled'; // the table (or its source) was deleted meanwhile
  const outcome: RunOutcome =
    a.signal.aborted || reported.status === 'Cancelled'
      ? 'cancelled'
      : a.thrown !== undefined || reported.status === 'Failed'
        ? 'failed'
        : reported.status === 'Skipped'
          ? 'skipped'
          : 'succeeded';
  const regular = nextRunAt(t, a.startedAt, a.now);
  const scheduled = regular === null ? null : Math.max(regular + jitterMs(t, a.random), a.now);

  if (outcome === 'failed') {
    const message =
      a.thrown !== undefined
        ? oneLine(asAirmirrorError(a.thrown), a.thrown)
        : typeof reported.error === 'string'
          ? reported.error
          : cur.latestError;
    const failures = (t.consecutiveFailures ?? 0) + 1;
    // Retried sooner than a long period would allow, later and later for a short one;
    // a manual-only table (`never`) is not retried by itself.
    const retry = regular === null ? null : new Date(a.now + backoffMs(failures));
    await recordRunFailure(db, t, { failures, retryAt: retry, error: message });
    a.log?.warn({ schemaId: t.id, table: t.tableId, failures, error: message }, 'table sync failed');
    return outcome;
  }
  const next = scheduled === null ? null : new Date(scheduled);
  if (outcome === 'cancelled' || outcome === 'skipped') {
    await recordRunStopped(db, t, { nextRunAt: next, cancelled: outcome === 'cancelled' });
    return outcome;
  }
  await recordRunSuccess(db, t, {
    nextRunAt: next,
    // A run the syncer turned into a schema rebuild did not run the table's own sync type
    // (e.g. append never started its new history): the resync is still owed.
    resyncDone: a.full && reported.rebuild !== true,
  });
  return outcome;
}

/** A one-line error for latest_error: our errors' messages are safe to show; others are not. */
function oneLine(e: AirmirrorError, original: unknown): string {
  const text = e.code === 'INTERNAL_ERROR' && original instanceof Error ? original.message : e.message;
  return text.replace(/\s+/g, ' ').slice(0, 500);
}
