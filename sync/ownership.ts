import type pg from 'pg';
import { tryLockSyncer, unlockSyncer } from '../src/bookkeeping/ownership.ts';
import type { Database, Queryable } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { oneLine } from './one-line.ts';

/**
 * Who may work on a base. Today that decides only who does the start-up recovery of crashed runs
 * (drop a rebuild's leftover swap schema, fail the runs it interrupted): doing it next to a live
 * syncer process (`sync --once` beside `airmirror start`) would drop that process's swap schema
 * mid-rebuild and fail its runs. Per-base ownership through Postgres (issue 12) replaces the one
 * process-wide lock behind this interface.
 */
export interface BaseOwnership {
  /** Claims the bases for this process; resolves with whether it holds any (again true once held). */
  claim(): Promise<boolean>;
  /** Whether this process holds `sourceId` (after a successful claim). */
  owns(sourceId: string): boolean;
  /** Gives up what it holds. */
  release(): Promise<void>;
}

/**
 * Every base or none: the process holding one session advisory lock (on a connection of its own,
 * held until release) owns them all.
 */
export function processLockOwnership(db: Pick<Database, 'dedicatedClient'>, log: Logger): BaseOwnership {
  let session: pg.Client | undefined;
  const q = (client: pg.Client): Queryable => ({
    query: <R extends pg.QueryResultRow>(s: Parameters<Queryable['query']>[0]) =>
      client.query<R>({ text: s.text, values: s.values }),
  });
  return {
    async claim() {
      if (session) return true;
      const client = db.dedicatedClient();
      // The lock session can drop (a Postgres restart); that must not end the process.
      client.on('error', (err) => log.warn({ err: oneLine(err) }, 'syncer lock connection failed'));
      await client.connect();
      if (!(await tryLockSyncer(q(client)))) {
        await client.end().catch(() => undefined);
        return false;
      }
      session = client;
      return true;
    },
    owns: () => session !== undefined,
    async release() {
      const client = session;
      session = undefined;
      if (!client) return;
      await unlockSyncer(q(client)).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
