import { join } from 'node:path';
import { createRateBudget, type RateBudget } from '../src/airtable/index.ts';
import type { Config } from '../src/config.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import type { Logger } from '../src/log.ts';
import { loadOptionalStrategies } from './optional-strategies.ts';
import { ensureSourcesFromConfig } from '../src/bookkeeping/sources.ts';
import type { SyncStrategy } from './strategy.ts';
import { createSyncer, type Syncer, type SyncerDeps } from './syncer.ts';
import { tokenResolver } from '../src/bookkeeping/tokens.ts';

/**
 * A migrated database for a command: DATABASE_URL, or the embedded one under dataDir/pg.
 * `onError` hears every connection that fails (src/db/database.ts), e.g. when Postgres restarts.
 */
export async function openCommandDatabase(
  config: Config,
  opts: { onError?: (err: Error) => void } = {},
): Promise<{ db: Database; close(): Promise<void> }> {
  const embedded = config.databaseUrl
    ? undefined
    : await startEmbeddedPostgres({ dataDir: join(config.dataDir, 'pg') });
  const db = createDatabase(config.databaseUrl ?? embedded!.url, {
    preparedStatements: config.pgPreparedStatements,
    onError: opts.onError,
  });
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    await embedded?.stop();
    throw err;
  }
  return {
    db,
    async close() {
      await db.close();
      await embedded?.stop();
    },
  };
}

/**
 * The syncer as configured by the environment: env bases ensured as sources (their token kept in
 * memory), API-created sources' tokens opened with AIRMIRROR_SECRET_KEY, and the incremental /
 * append strategies (sync/incremental.ts, sync/append.ts) unless `strategies` is given.
 */
export async function syncerFromConfig(args: {
  db: Database;
  config: Config;
  log: Logger;
  fetch?: typeof fetch;
  budget?: RateBudget;
  strategies?: readonly SyncStrategy[];
  onProgress?: SyncerDeps['onProgress'];
}): Promise<Syncer> {
  const { db, config, log } = args;
  const { tokens } = await ensureSourcesFromConfig(db, config);
  return createSyncer({
    db,
    log,
    fetch: args.fetch ?? fetch,
    budget: args.budget ?? createRateBudget({ perSecond: config.rateLimitPerSecond }),
    apiUrl: config.airtableApiUrl,
    tokenFor: tokenResolver({ tokens, secretKey: config.secretKey }),
    hashCacheSize: config.hashCacheSize,
    clientOptions: { timeoutMs: config.upstreamTimeoutMs },
    strategies: args.strategies ?? (await loadOptionalStrategies()),
    onProgress: args.onProgress,
  });
}
