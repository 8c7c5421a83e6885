/**
 * Which process may work on which base. Today one session advisory lock stands for all of them:
 * the syncer process holding it does the start-up recovery (leftover swap schemas, runs a crash
 * interrupted) for every source. Per-base ownership (issue 12) replaces it behind sync/ownership.ts.
 */
import type { Queryable } from '../db/database.ts';
import { sql } from '../db/sql.ts';

/** The session advisory lock of the syncer process that did the start-up cleanup ('amsy'). */
const SYNCER_LOCK = 0x616d7379;

/** Takes the syncer lock on `session` (a connection of its own) unless another session holds it. */
export async function tryLockSyncer(session: Queryable): Promise<boolean> {
  const r = await session.query<{ ok: boolean }>(sql('SELECT pg_try_advisory_lock($1) AS ok', [SYNCER_LOCK]));
  return r.rows[0].ok;
}

/** Releases the syncer lock held by `session`. */
export async function unlockSyncer(session: Queryable): Promise<void> {
  await session.query(sql('SELECT pg_advisory_unlock($1)', [SYNCER_LOCK]));
}
