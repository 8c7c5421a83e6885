import { createRateBudget, type RateBudget } from '../src/airtable/index.ts';
import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { loadOptionalStrategies } from './optional-strategies.ts';
import { ensureSourcesFromConfig } from '../src/bookkeeping/sources.ts';
import type { SyncStrategy } from './strategy.ts';
import { createSyncer, type Syncer, type SyncerDeps } from './syncer.ts';
import { tokenResolver } from '../src/bookkeeping/tokens.ts';

export { openCommandDatabase } from '../src/db/open.ts';

/**
 * The syncer as configured by the environment: env bases ensured as sources (their token kept in
 * memory), API-created sources' tokens opened with AIRMIRROR_SECRET_KEY, and the incremental /
 * append strategies (sync/incremental.ts, sync/append.ts) unless `strategies` is given; with the
 * token resolver it uses.
 */
export async function syncerFromConfig(args: {
  db: Database;
  config: Config;
  log: Logger;
  fetch?: typeof fetch;
  budget?: RateBudget;
  strategies?: readonly SyncStrategy[];
  onProgress?: SyncerDeps['onProgress'];
}): Promise<{ syncer: Syncer; tokenFor: SyncerDeps['tokenFor'] }> {
  const { db, config, log } = args;
  const { tokens } = await ensureSourcesFromConfig(db, config);
  const tokenFor = tokenResolver({ tokens, secretKey: config.secretKey });
  const syncer = createSyncer({
    db,
    log,
    fetch: args.fetch ?? fetch,
    budget: args.budget ?? createRateBudget({ perSecond: config.rateLimitPerSecond }),
    apiUrl: config.airtableApiUrl,
    tokenFor,
    hashCacheSize: config.hashCacheSize,
    clientOptions: { timeoutMs: config.upstreamTimeoutMs },
    strategies: args.strategies ?? (await loadOptionalStrategies()),
    onProgress: args.onProgress,
  });
  return { syncer, tokenFor };
}
