/**
 * The scheduler's columns of `airmirror.tables` (src/scheduler): when a table runs next
 * (`next_run_at`, NULL = recompute from the config), its failures in a row, and what a finished
 * run leaves. Status changes still go through the state machine (tables.ts `changeStatus`).
 */
import type { Database, Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';
import type { TablesRow } from './rows.ts';
import { changeStatus, queryTables, type Table } from './tables.ts';

/**
 * Tables the scheduler may run: syncing, mirrored, not vanished, not manual-only, not Running nor
 * Paused.
 */
export function schedulableTables(q: Queryable): Promise<Table[]> {
  return queryTables(
    q,
    `WHERE t.should_sync AND t.mirrored AND t.vanished_at IS NULL AND t.sync_frequency <> 'never'
       AND t.status IS DISTINCT FROM 'Running' AND t.status IS DISTINCT FROM 'Paused'
     ORDER BY t.next_run_at NULLS FIRST, t.id`,
  );
}

/** Persists a computed next run, unless someone set one meanwhile. */
export async function setNextRunIfUnset(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query(
    sql('UPDATE airmirror.tables SET next_run_at = $2 WHERE id = $1 AND next_run_at IS NULL', [id, at]),
  );
}

/** Moves a table's next run later (never earlier): the quota spaces scheduled runs out (src/quota). */
export async function postponeNextRun(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query(
    sql(
      'UPDATE airmirror.tables SET next_run_at = $2 WHERE id = $1 AND (next_run_at IS NULL OR next_run_at < $2)',
      [id, at],
    ),
  );
}

/** What a finished run left in the table's row (undefined: the table or its source was deleted). */
export async function runLeftovers(
  q: Queryable,
  id: string,
): Promise<{ status: string | null; latestError: string | null } | undefined> {
  const r = await q.query<Pick<TablesRow, 'status' | 'latest_error'>>(
    sql('SELECT status, latest_error FROM airmirror.tables WHERE id = $1', [id]),
  );
  return r.rows[0] ? { status: r.rows[0].status, latestError: r.rows[0].latest_error } : undefined;
}

type TableKey = Pick<Table, 'id' | 'sourceId' | 'tableId'>;

/**
 * A failed run: the table is Failed (`fault`: unless it was paused or cancelled meanwhile), with
 * the error (when there is one) and the retry time.
 */
export async function recordRunFailure(
  db: Pick<Database, 'tx'>,
  t: TableKey,
  r: { failures: number; retryAt: Date | null; error: string | null },
): Promise<void> {
  await db.tx(async (q) => {
    await changeStatus(q, t.sourceId, t.tableId, 'fault', { ifAllowed: true });
    await q.query(
      sql(
        `UPDATE airmirror.tables SET consecutive_failures = $2, next_run_at = $3,
           latest_error = COALESCE($4, latest_error), updated_at = now()
         WHERE id = $1`,
        [t.id, r.failures, r.retryAt, r.error],
      ),
    );
  });
}

/**
 * A run that was cancelled or skipped: its next run. A cancelled run the syncer did not get to
 * record is Cancelled; a skipped one (paused, or running in another process) keeps its status.
 */
export async function recordRunStopped(
  db: Pick<Database, 'tx'>,
  t: TableKey,
  r: { nextRunAt: Date | null; cancelled: boolean },
): Promise<void> {
  await db.tx(async (q) => {
    if (r.cancelled) await changeStatus(q, t.sourceId, t.tableId, 'cancel', { ifAllowed: true });
    await q.query(
      sql('UPDATE airmirror.tables SET next_run_at = $2, updated_at = now() WHERE id = $1', [
        t.id,
        r.nextRunAt,
      ]),
    );
  });
}

/** A successful run: failures forgotten, the next run, and a resync no longer owed if it was done. */
export async function recordRunSuccess(
  q: Queryable,
  t: TableKey,
  r: { nextRunAt: Date | null; resyncDone: boolean },
): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables SET consecutive_failures = 0, next_run_at = $2, latest_error = NULL,
         resync_required = CASE WHEN $3::boolean THEN false ELSE resync_required END, updated_at = now()
       WHERE id = $1`,
      [t.id, r.nextRunAt, r.resyncDone],
    ),
  );
}

/** Sources whose mirror was never built (no schema hash yet): the scheduler builds them. */
export async function unbuiltSources(q: Queryable): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    sql('SELECT id FROM airmirror.sources WHERE schema_hash IS NULL ORDER BY created_at, id'),
  );
  return r.rows.map((x) => x.id);
}

/**
 * Makes a table due now (a reload or resync asked for in a process that does not own its base):
 * the base's owner runs it at its next pass, a full run when `full`.
 */
export async function runSoon(q: Queryable, id: string, full: boolean): Promise<void> {
  await q.query(
    sql(
      `UPDATE airmirror.tables SET next_run_at = now(), resync_required = resync_required OR $2,
         updated_at = now() WHERE id = $1`,
      [id, full],
    ),
  );
}
