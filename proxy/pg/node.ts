/**
 * The Postgres endpoint as part of `airmirror start` (proxy/pg, docs/postgres-endpoint.md): the
 * direct-write guard switched as AIRMIRROR_PG_WRITE_GUARD says, and the listener on
 * HOST:AIRMIRROR_PG_PORT unless it is `off`, writing to Airtable with each source's own token
 * under the process' shared request budget.
 */
import { readFileSync } from 'node:fs';
import { createAirtableAccess } from './airtable.ts';
import { startPgEndpoint, type PgEndpoint } from './server.ts';
import type { FetchFn } from '../../src/airtable/fetch-helpers.ts';
import type { RateBudget } from '../../src/airtable/rate-budget.ts';
import type { CatchupSink } from '../../src/catchup/types.ts';
import type { Config } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/log.ts';
import { setWriteGuard } from '../../src/mirror/write-guard.ts';

export interface StartedEndpoint extends PgEndpoint {
  /** `databaseUrl` with the endpoint's host and port: a ready connection string. */
  url: string;
}

export async function startPostgresEndpoint(deps: {
  config: Config;
  db: Database;
  budget: RateBudget;
  fetch: FetchFn;
  tokenFor(sourceId: string): Promise<string>;
  catchup?: CatchupSink;
  log: Logger;
}): Promise<StartedEndpoint | undefined> {
  const { config, db } = deps;
  const pg = config.pgEndpoint;
  await setWriteGuard(db, pg.writeGuard);
  if (pg.port === null) return undefined;
  const endpoint = await startPgEndpoint({
    host: config.host,
    port: pg.port,
    fallbackToFreePort: !pg.portExplicit,
    databaseUrl: db.url,
    tls:
      pg.tlsCert && pg.tlsKey ? { cert: readFileSync(pg.tlsCert), key: readFileSync(pg.tlsKey) } : undefined,
    db,
    airtable: createAirtableAccess({
      apiUrl: config.airtableApiUrl,
      fetch: deps.fetch,
      budget: deps.budget,
      tokenFor: deps.tokenFor,
      timeoutMs: config.upstreamTimeoutMs,
    }),
    catchup: deps.catchup,
    log: deps.log,
  });
  const u = new URL(db.url);
  u.hostname = ['0.0.0.0', '::', '[::]'].includes(config.host) ? '127.0.0.1' : config.host;
  u.port = String(endpoint.port);
  return Object.assign(endpoint, { url: u.toString() });
}
