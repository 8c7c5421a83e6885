import { createDatabase } from '../db/database.ts';
import type { LoopLog } from '../lifecycle/background-loop.ts';
import { createSharedBudget, type SharedBudget, type SharedBudgetOptions } from './shared-budget.ts';

/**
 * The shared request budget of a Node process (`airmirror start`, `sync --once`, `verify`): its
 * own two-connection pool, so a claim never queues behind the syncer's long transactions or the
 * proxy's writes, and its upkeep loop. `close` stops the loop (one last flush of the counts) and
 * the pool; call it after everything that sends Airtable requests has stopped.
 */
export function openProcessBudget(opts: {
  databaseUrl: string;
  perSecond: number;
  preparedStatements?: boolean;
  log: LoopLog & { info?(obj: object, msg: string): void; error?(obj: object, msg: string): void };
  onClaim?: SharedBudgetOptions['onClaim'];
  /** Bases the process works on: their stats are kept (the tracked set). */
  bases?: string[];
}): { budget: SharedBudget; close(): Promise<void> } {
  const db = createDatabase(opts.databaseUrl, {
    max: 2,
    connectionTimeoutMs: 2_000,
    preparedStatements: opts.preparedStatements,
    // An idle connection's error (Postgres restarting): the next claim finds out and falls back.
    onError: (err) => opts.log.warn({ err: err.message }, 'request budget: a Postgres connection failed'),
  });
  const budget = createSharedBudget({ db, perSecond: opts.perSecond, log: opts.log, onClaim: opts.onClaim });
  for (const b of opts.bases ?? []) budget.track(b);
  budget.start();
  return {
    budget,
    async close() {
      await budget.stop();
      await db.close();
    },
  };
}
