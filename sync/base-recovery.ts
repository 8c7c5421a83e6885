import { loadSource } from '../src/bookkeeping/sources.ts';
import { recoverInterrupted } from '../src/bookkeeping/ownership.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { cleanupSwap } from '../src/mirror/index.ts';

const INTERRUPTED = 'interrupted: the process that ran it stopped or lost the base';

/**
 * What a new owner of a base does first (invariant 12: state held in Postgres never sticks):
 * the swap schema of a rebuild the previous owner did not finish is dropped (its old tables kept
 * serving), and the tables it left Running become Failed through the state machine's `interrupt`
 * and due now, so they run again at once. `db` is the new owner's
 * guarded database: if yet another process took the base meanwhile, none of this happens.
 */
export async function recoverBase(db: Database, sourceId: string, log: Logger): Promise<void> {
  const source = await loadSource(db, sourceId);
  if (!source) return;
  if (await cleanupSwap(db, source.schemaName)) {
    log.warn(
      { source: sourceId, schema: source.schemaName },
      'dropped the swap schema of an interrupted rebuild',
    );
  }
  const n = await recoverInterrupted(db, sourceId, INTERRUPTED);
  if (n > 0)
    log.warn({ source: sourceId, tables: n }, 'marked tables an interrupted run left Running as Failed');
}
