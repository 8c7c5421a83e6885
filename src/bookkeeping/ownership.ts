/**
 * Which process works on which base (flow 7, invariant 9; docs/ownership.md): the SQL of
 * `airmirror.processes` and `airmirror.base_owners` (migration 010), the advisory locks behind
 * them, and the types the parts that do a base's work (syncer, webhooks, catch-up) take a lease
 * through. The manager that holds the locks is sync/ownership.ts.
 *
 * Locks (two-key advisory locks, so they never meet the one-key ones of the write path):
 * - ('amow', base lock_key), session-level, on the owner's ownership session: who owns the base;
 * - ('amwk', base lock_key), transaction-level: shared by every transaction of the base's work
 *   (`ownerGuard`), exclusive while a new owner bumps the epoch (`takeBase`);
 * - ('ammb', process lock_key), session-level: the process is alive (its ownership session is).
 */
import type { Database, Queryable } from '../db/database.ts';
import { sql, type Sql } from '../db/sql.ts';
import { failRunningRuns } from './runs.ts';
import { changeStatus } from './tables.ts';

export const BASE_LOCK = 0x616d6f77; // 'amow'
export const WORK_LOCK = 0x616d776b; // 'amwk' (also in migration 010's assert_base_owner)
export const MEMBER_LOCK = 0x616d6d62; // 'ammb'
/** NOTIFY channel between processes: pings, wake-ups, cancels, membership changes. */
export const OWNERSHIP_CHANNEL = 'airmirror_ownership';
/** SQLSTATE of `assert_base_owner`: another process has taken the base. */
export const NOT_OWNER = 'AM001';

/** What processes tell each other through the ownership channel (never a secret). */
export type OwnershipMessage =
  /** A process joined, stopped or handed bases over (or a source was added): balance now. */
  | { kind: 'members' }
  /** Work was asked for (a run made due, proxy writes queued): owners look now. */
  | { kind: 'wake'; sourceId?: string }
  /** An Airtable ping for the base reached another process: its owner drains. */
  | { kind: 'ping'; sourceId: string }
  /** Stop a table's run (`airmirror.tables.id`) in the process that owns its base. */
  | { kind: 'cancel'; sourceId: string; schemaId: string }
  /** Re-read the base schema (an unknown table or field reached another process's proxy). */
  | { kind: 'refresh'; sourceId: string };

/** What runs one piece of a base's work, while this process owns the base. */
export interface BaseLease {
  readonly sourceId: string;
  /**
   * The database for this work: every transaction on it first checks that this process still
   * owns the base (`ownerGuard`), and fails once another process has taken it over.
   */
  readonly db: Database;
  /** Aborted when the process loses the base (or stops). */
  readonly signal: AbortSignal;
  /** The work is done (the base may be handed over once no lease on it is out). */
  release(): void;
}

/** What a part doing a base's work needs from the ownership manager (sync/ownership.ts). */
export interface BaseWork {
  /** A lease for work on the base now, or undefined when this process does not own it. */
  enter(sourceId: string): Promise<BaseLease | undefined>;
  /** Whether this process owns the base and takes new work on it. */
  owns(sourceId: string): boolean;
}

/** Settings of the ownership session (docs/ownership.md): the server ends it if we go silent. */
export function sessionSettings(idleTimeoutMs: number): Sql[] {
  const s = Math.max(1, Math.round(idleTimeoutMs / 4000));
  // SET takes no parameters; these are whole numbers computed here.
  return [
    sql(`SET idle_session_timeout = ${Math.trunc(idleTimeoutMs)}`),
    sql(`SET tcp_keepalives_idle = ${s}`),
    sql(`SET tcp_keepalives_interval = ${s}`),
    sql('SET tcp_keepalives_count = 3'),
    sql(`SET tcp_user_timeout = ${Math.trunc(idleTimeoutMs)}`),
  ];
}

export interface ProcessIdentity {
  id: string;
  host: string;
  pid: number;
  /** 'start' takes part in sharing the bases; 'once' (sync --once) only claims free ones. */
  role: 'start' | 'once';
}

/**
 * Registers (or re-registers, after a reconnect) the process on `session`, its ownership session,
 * and takes the process's alive lock there. Resolves with the session's backend pid.
 */
export async function registerProcess(session: Queryable, p: ProcessIdentity): Promise<number> {
  const r = await session.query<{ backend_pid: number; lock_key: number }>(
    sql(
      `INSERT INTO airmirror.processes (id, host, pid, role, backend_pid, backend_start)
       VALUES ($1, $2, $3, $4, pg_backend_pid(), now())
       ON CONFLICT (id) DO UPDATE SET backend_pid = pg_backend_pid(), backend_start = now(),
         heartbeat_at = now(), stopping = false
       RETURNING backend_pid, hashtext(id) AS lock_key`,
      [p.id, p.host, p.pid, p.role],
    ),
  );
  await session.query(sql('SELECT pg_advisory_lock($1, $2)', [MEMBER_LOCK, r.rows[0].lock_key]));
  return r.rows[0].backend_pid;
}

/** The heartbeat, on the ownership session; false when the row is gone (then register again). */
export async function heartbeat(session: Queryable, processId: string): Promise<boolean> {
  const r = await session.query(
    sql(
      `UPDATE airmirror.processes SET heartbeat_at = now()
        WHERE id = $1 AND backend_pid = pg_backend_pid()`,
      [processId],
    ),
  );
  return (r.rowCount ?? 0) === 1;
}

/** A process that stops cleanly says so first (others stop counting it), then leaves. */
export async function markStopping(q: Queryable, processId: string): Promise<void> {
  await q.query(sql('UPDATE airmirror.processes SET stopping = true WHERE id = $1', [processId]));
}

export async function removeProcess(q: Queryable, processId: string): Promise<void> {
  await q.query(sql('DELETE FROM airmirror.processes WHERE id = $1', [processId]));
}

/** The alive lock of a process row, as a pg_locks condition on `p` (processes) and `l` (pg_locks). */
const ALIVE = `EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
    AND l.classid = ${MEMBER_LOCK}::oid AND l.objid = hashtext(p.id)::oid AND l.objsubid = 2
    AND l.pid = p.backend_pid AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;

/** Rows of processes gone (no alive lock) for longer than `seconds`: history kept for `status` a while. */
export async function pruneProcesses(q: Queryable, seconds: number): Promise<number> {
  const r = await q.query(
    sql(
      `DELETE FROM airmirror.processes p
        WHERE p.heartbeat_at < now() - make_interval(secs => $1) AND NOT ${ALIVE}`,
      [seconds],
    ),
  );
  return r.rowCount ?? 0;
}

export const listenOwnership = (): Sql => sql(`LISTEN ${OWNERSHIP_CHANNEL}`);

/** Tells every process's ownership session something (a JSON payload; never a secret). */
export async function announce(q: Queryable, payload: string): Promise<void> {
  await q.query(sql('SELECT pg_notify($1, $2)', [OWNERSHIP_CHANNEL, payload]));
}

/** Every source gets its lock key (new sources since the last look). */
export async function ensureBaseOwners(q: Queryable): Promise<void> {
  await q.query(
    sql(`INSERT INTO airmirror.base_owners (source_id)
         SELECT id FROM airmirror.sources ON CONFLICT (source_id) DO NOTHING`),
  );
}

/** The lock key of every source (`ensureBaseOwners` first). */
export async function baseKeys(q: Queryable): Promise<Map<string, number>> {
  const r = await q.query<{ source_id: string; lock_key: number }>(
    sql('SELECT source_id, lock_key FROM airmirror.base_owners ORDER BY source_id'),
  );
  return new Map(r.rows.map((x) => [x.source_id, x.lock_key]));
}

/** The lock key of one source, made if missing; undefined when there is no such source. */
export async function baseKey(q: Queryable, sourceId: string): Promise<number | undefined> {
  const r = await q.query<{ lock_key: number }>(
    sql(
      `WITH made AS (
         INSERT INTO airmirror.base_owners (source_id)
         SELECT id FROM airmirror.sources WHERE id = $1
         ON CONFLICT (source_id) DO NOTHING RETURNING lock_key)
       SELECT lock_key FROM made UNION ALL
       SELECT lock_key FROM airmirror.base_owners WHERE source_id = $1`,
      [sourceId],
    ),
  );
  return r.rows[0]?.lock_key;
}

/** Takes the base's session lock on `session` unless another session holds it. */
export async function tryLockBase(session: Queryable, key: number): Promise<boolean> {
  const r = await session.query<{ ok: boolean }>(
    sql('SELECT pg_try_advisory_lock($1, $2) AS ok', [BASE_LOCK, key]),
  );
  return r.rows[0].ok;
}

export async function unlockBase(session: Queryable, key: number): Promise<void> {
  await session.query(sql('SELECT pg_advisory_unlock($1, $2)', [BASE_LOCK, key]));
}

/**
 * A new owner takes the base: after every transaction of the previous owner's work has ended
 * (the work lock, exclusive), and only while `backendPid` — this process's ownership session —
 * holds the base's lock, the epoch moves on. Every transaction the previous owner still tries
 * fails from now on. Resolves with the new epoch, or undefined when the session lost the lock.
 */
export async function takeBase(
  db: Pick<Database, 'tx'>,
  t: { sourceId: string; key: number; processId: string; backendPid: number },
): Promise<number | undefined> {
  return db.tx(async (q) => {
    await q.query(sql('SELECT pg_advisory_xact_lock($1, $2)', [WORK_LOCK, t.key]));
    const r = await q.query<{ epoch: string }>(
      sql(
        `UPDATE airmirror.base_owners SET epoch = epoch + 1, process_id = $2, since = now()
          WHERE source_id = $1 AND EXISTS (
            SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
               AND l.classid = $3::oid AND l.objid = $4::oid AND l.objsubid = 2 AND l.pid = $5
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
          RETURNING epoch::text`,
        [t.sourceId, t.processId, BASE_LOCK, t.key, t.backendPid],
      ),
    );
    return r.rows[0] ? Number(r.rows[0].epoch) : undefined;
  });
}

/** The fence every transaction of a base's work starts with (see migration 010). */
export function ownerGuard(key: number, epoch: number): Sql {
  return {
    text: 'SELECT airmirror.assert_base_owner($1, $2)',
    values: [key, epoch],
    name: 'airmirror_owner_guard',
  };
}

/** One live process and how many bases it holds. */
export interface MemberLoad {
  id: string;
  role: string;
  stopping: boolean;
  bases: number;
}

/** The processes alive now (their ownership session holds its alive lock), with their bases. */
export async function liveMembers(q: Queryable): Promise<MemberLoad[]> {
  const r = await q.query<{ id: string; role: string; stopping: boolean; bases: number }>(
    sql(
      `SELECT p.id, p.role, p.stopping,
              (SELECT count(*)::int FROM pg_locks b WHERE b.locktype = 'advisory' AND b.granted
                  AND b.classid = $1::oid AND b.objsubid = 2 AND b.pid = p.backend_pid) AS bases
         FROM airmirror.processes p WHERE ${ALIVE} ORDER BY p.id`,
      [BASE_LOCK],
    ),
  );
  return r.rows;
}

/** The sources no session holds now (free to take). */
export async function freeBases(q: Queryable): Promise<{ sourceId: string; key: number }[]> {
  const r = await q.query<{ source_id: string; lock_key: number }>(
    sql(
      `SELECT o.source_id, o.lock_key FROM airmirror.base_owners o
        WHERE NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
                 AND l.classid = $1::oid AND l.objid = o.lock_key::oid AND l.objsubid = 2
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
        ORDER BY o.source_id`,
      [BASE_LOCK],
    ),
  );
  return r.rows.map((x) => ({ sourceId: x.source_id, key: x.lock_key }));
}

/** A process as `status` shows it. */
export interface ProcessView {
  processId: string;
  host: string;
  pid: number;
  role: string;
  startedAt: Date;
  heartbeatAt: Date;
  /** Seconds since its last heartbeat, by the database's clock. */
  heartbeatAgeSeconds: number;
  alive: boolean;
  stopping: boolean;
  bases: string[];
}

/** Every process row (alive or gone, until pruned) with the sources it holds now. */
export async function processViews(q: Queryable): Promise<ProcessView[]> {
  const r = await q.query<{
    id: string;
    host: string;
    pid: number;
    role: string;
    started_at: Date;
    heartbeat_at: Date;
    age: number;
    alive: boolean;
    stopping: boolean;
    bases: string[];
  }>(
    sql(
      `SELECT p.id, p.host, p.pid, p.role, p.started_at, p.heartbeat_at, p.stopping,
              EXTRACT(EPOCH FROM (now() - p.heartbeat_at))::float8 AS age, ${ALIVE} AS alive,
              ARRAY(SELECT o.source_id FROM airmirror.base_owners o JOIN pg_locks l
                      ON l.locktype = 'advisory' AND l.granted AND l.classid = $1::oid
                     AND l.objid = o.lock_key::oid AND l.objsubid = 2 AND l.pid = p.backend_pid
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    ORDER BY o.source_id) AS bases
         FROM airmirror.processes p ORDER BY p.started_at, p.id`,
      [BASE_LOCK],
    ),
  );
  return r.rows.map((x) => ({
    processId: x.id,
    host: x.host,
    pid: x.pid,
    role: x.role,
    startedAt: x.started_at,
    heartbeatAt: x.heartbeat_at,
    heartbeatAgeSeconds: Math.max(0, Math.round(x.age * 10) / 10),
    alive: x.alive,
    stopping: x.stopping,
    bases: x.bases,
  }));
}

/** The process holding the base now (by its lock), if any: for messages ("owned by …"). */
export async function baseHolder(
  q: Queryable,
  sourceId: string,
): Promise<{ processId: string; host: string; pid: number; role: string } | undefined> {
  const r = await q.query<{ id: string; host: string; pid: number; role: string }>(
    sql(
      `SELECT p.id, p.host, p.pid, p.role FROM airmirror.base_owners o
         JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.classid = $2::oid
          AND l.objid = o.lock_key::oid AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         JOIN airmirror.processes p ON p.backend_pid = l.pid
        WHERE o.source_id = $1`,
      [sourceId, BASE_LOCK],
    ),
  );
  const x = r.rows[0];
  return x ? { processId: x.id, host: x.host, pid: x.pid, role: x.role } : undefined;
}

/**
 * What a run whose process went away leaves, made right by the base's next owner (invariant 12):
 * every table of the source still Running is interrupted through the state machine (Failed, with
 * `error`) and made due now, so it runs again at once; the source's runs still open are failed.
 * Resolves with how many tables were Running.
 */
export async function recoverInterrupted(
  db: Pick<Database, 'tx'>,
  sourceId: string,
  error: string,
): Promise<number> {
  return db.tx(async (q) => {
    const running = await q.query<{ table_id: string }>(
      sql(
        `SELECT table_id FROM airmirror.tables WHERE source_id = $1 AND status = 'Running'
          ORDER BY table_id FOR UPDATE`,
        [sourceId],
      ),
    );
    for (const t of running.rows) {
      await changeStatus(q, sourceId, t.table_id, 'interrupt', { error });
      await q.query(dueNow(sourceId, t.table_id));
    }
    await failRunningRuns(q, error, [sourceId]);
    return running.rows.length;
  });
}

/** An interrupted run is owed: the table is due now (for whoever owns its base). */
export function dueNow(sourceId: string, tableId: string): Sql {
  return sql(
    `UPDATE airmirror.tables SET next_run_at = now(), updated_at = now() WHERE source_id = $1 AND table_id = $2`,
    [sourceId, tableId],
  );
}
