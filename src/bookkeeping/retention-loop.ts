import type { Database } from '../db/database.ts';
import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import type { Logger } from '../log.ts';
import { pruneBookkeeping, type Pruned, type RetentionSettings } from './retention.ts';

/** How often bookkeeping is pruned: retention is counted in hours and days, an hour is fine-grained enough. */
export const PRUNE_INTERVAL_MS = 3_600_000;

/** The pruning of bookkeeping (retention.ts) on a schedule: a pass at start, then every hour. */
export function createRetentionLoop(deps: {
  db: Database;
  log: Logger;
  settings: RetentionSettings;
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  intervalMs?: number;
  onPass?: (pruned: Pruned) => void;
}): BackgroundLoop {
  const now = deps.now ?? Date.now;
  return new BackgroundLoop({
    name: 'bookkeeping retention',
    intervalMs: deps.intervalMs ?? PRUNE_INTERVAL_MS,
    retryMs: 60_000,
    maxRetryMs: deps.intervalMs ?? PRUNE_INTERVAL_MS,
    log: deps.log,
    sleep: deps.sleep,
    async pass() {
      const pruned = await pruneBookkeeping(deps.db, deps.settings, new Date(now()));
      if (pruned.fences + pruned.runs + pruned.outbox + pruned.deadLetters > 0) {
        deps.log.debug(pruned, 'bookkeeping pruned');
      }
      deps.onPass?.(pruned);
    },
  });
}
