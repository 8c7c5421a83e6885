import type { Migration } from './migration.ts';

/**
 * Many processes on one Postgres (flow 7, invariant 9; docs/ownership.md). A base's background
 * work is done by the process whose ownership session holds the base's session advisory lock
 * (`pg_try_advisory_lock(<'amow'>, lock_key)`); these tables make that visible and fence it:
 *
 * - `processes`: every airmirror process that takes part, with the backend pid of its ownership
 *   session (so pg_locks tells which process holds which base) and its heartbeat;
 * - `base_owners`: per source, the lock key and an epoch the owner bumps when it takes the base.
 *   Every transaction of a base's work runs `assert_base_owner(lock_key, epoch)` first: it takes
 *   the base's work lock shared and fails (SQLSTATE AM001) once another process has taken the
 *   base, so a process that lost a base (cut off, frozen) can never write for it again; the
 *   taker bumps the epoch under the same lock exclusively, after every such transaction ended.
 */
export const m010_ownership: Migration = {
  version: 10,
  name: 'ownership',
  up: [
    `CREATE TABLE airmirror.processes (
      id text PRIMARY KEY,
      host text NOT NULL,
      pid integer NOT NULL,
      role text NOT NULL,
      backend_pid integer,
      backend_start timestamptz,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      stopping boolean NOT NULL DEFAULT false
    )`,
    `CREATE TABLE airmirror.base_owners (
      source_id text PRIMARY KEY REFERENCES airmirror.sources(id) ON DELETE CASCADE,
      lock_key integer GENERATED ALWAYS AS IDENTITY UNIQUE,
      process_id text,
      epoch bigint NOT NULL DEFAULT 0,
      since timestamptz
    )`,
    // The work lock is the two-key advisory lock ('amwk', lock_key); the owner's session lock is
    // ('amow', lock_key). A volatile plpgsql function takes a new snapshot per statement, so the
    // epoch is read after the lock is held.
    `CREATE FUNCTION airmirror.assert_base_owner(base_key integer, base_epoch bigint) RETURNS void
       LANGUAGE plpgsql VOLATILE AS $fn$
     BEGIN
       PERFORM pg_advisory_xact_lock_shared(1634563947, base_key);
       IF NOT EXISTS (SELECT 1 FROM airmirror.base_owners o WHERE o.lock_key = base_key AND o.epoch = base_epoch) THEN
         RAISE EXCEPTION 'another process has taken over this base'
           USING ERRCODE = 'AM001', HINT = 'its work continues there';
       END IF;
     END
     $fn$`,
  ],
};
