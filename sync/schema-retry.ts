/**
 * Sources whose base schema could not be read are tried again, with a growing delay, for as long
 * as the reads fail (a failed first read would otherwise leave a base with no tables — nothing the
 * scheduler knows to run). Each try is a whole sync of the source; the failures in a row and the
 * next try are in `airmirror.sources` (src/bookkeeping/schema-health.ts), shown by `status` and
 * `/healthz`.
 */
import { failingSchemaReads, recordSchemaReadFailure } from '../src/bookkeeping/schema-health.ts';
import type { Database } from '../src/db/database.ts';
import { BackgroundLoop } from '../src/lifecycle/background-loop.ts';
import type { Logger } from '../src/log.ts';

/** The first retry comes after 30 s; each failure doubles the wait, up to 15 minutes. */
export const SCHEMA_RETRY_BASE_MS = 30_000;
export const SCHEMA_RETRY_MAX_MS = 15 * 60_000;

/** The wait before the next read after `failures` failed reads in a row. */
export function schemaRetryDelayMs(failures: number): number {
  return Math.min(SCHEMA_RETRY_MAX_MS, SCHEMA_RETRY_BASE_MS * 2 ** Math.max(0, failures - 1));
}

/** A failed schema read of a source: recorded, with its next try after the growing delay. */
export async function noteSchemaReadFailure(
  db: Database,
  sourceId: string,
  message: string,
  now: number,
): Promise<void> {
  await recordSchemaReadFailure(
    db,
    sourceId,
    message,
    new Date(now),
    (n) => new Date(now + schemaRetryDelayMs(n)),
  );
}

export function createSchemaRetryLoop(deps: {
  db: Database;
  log: Logger;
  now: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  syncSource(sourceId: string): Promise<unknown>;
}): BackgroundLoop {
  return new BackgroundLoop({
    name: 'schema retry',
    intervalMs: SCHEMA_RETRY_BASE_MS,
    // Whatever is due at start-up is the start-up sync's own to do.
    initialDelayMs: SCHEMA_RETRY_BASE_MS,
    log: deps.log,
    sleep: deps.sleep,
    async pass(signal) {
      let soonest = SCHEMA_RETRY_MAX_MS;
      for (const f of await failingSchemaReads(deps.db)) {
        if (signal.aborted) return;
        const due = f.retryAt?.getTime() ?? 0;
        if (due > deps.now()) {
          soonest = Math.min(soonest, due - deps.now());
          continue;
        }
        deps.log.info(
          { source: f.sourceId, failures: f.failures, since: f.since },
          'retrying the base schema read',
        );
        await deps.syncSource(f.sourceId);
        soonest = Math.min(soonest, schemaRetryDelayMs(f.failures + 1));
      }
      return Math.max(1_000, soonest);
    },
  });
}
