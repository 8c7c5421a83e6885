import type { Config } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';
import type { Logger } from '../src/log.ts';
import { createProxy, type Proxy, type ProxyBudget, type ProxyDeps } from './app.ts';
import type { AuthCache } from './auth-cache.ts';
import { createFileJournal } from './catchup-journal.ts';
import { CatchupQueue } from './catchup-queue.ts';
import { createPgWriter, type PgWriter } from './pg-writer.ts';

export interface NodeProxyDeps {
  config: Pick<Config, 'airtableApiUrl' | 'upstreamTimeoutMs' | 'maxBodyBytes' | 'dataDir'>;
  db: Database;
  /** The budget shared with the syncer and every other process (createSharedBudget). */
  budget?: ProxyBudget;
  /** Airtable's recent 401/403 answers (default: the proxy's own). */
  authCache?: AuthCache;
  /** The syncer's schema refresh (re-read the base schema, save the new mapping). */
  refreshSchema?: (sourceId: string) => Promise<void>;
  /** Called when catch-up items reached Postgres, e.g. to nudge the syncer's drainCatchup. */
  onCatchupQueued?: (count: number) => void;
  fetch?: typeof fetch;
  log?: Logger;
  applyTimeoutMs?: number;
  catchupRetryMs?: number;
  onApply?: ProxyDeps['onApply'];
}

export interface NodeProxy extends Proxy {
  writer: PgWriter;
  catchup: CatchupQueue;
  /** Starts the catch-up loop (resuming a journal left by an earlier process). */
  start(): void;
  /** Stops the catch-up loop, waiting for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * The proxy as part of `airmirror start`: Postgres writer, catch-up queue journaled to
 * `<dataDir>/proxy-catchup.jsonl`. Mount `app` last (it claims `/{host}/v0/*`), e.g.
 * `server.route('/', nodeProxy.app)` after `/api`, `/hooks`, `/healthz`, `/metrics`.
 */
export function createNodeProxy(deps: NodeProxyDeps): NodeProxy {
  const writer = createPgWriter({ db: deps.db, refreshSchema: deps.refreshSchema, log: deps.log });
  const catchup = new CatchupQueue({
    db: deps.db,
    journal: createFileJournal(deps.config.dataDir),
    retryMs: deps.catchupRetryMs,
    log: deps.log,
    onPersisted: deps.onCatchupQueued,
  });
  const { app } = createProxy({
    upstreamUrl: deps.config.airtableApiUrl,
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    timeoutMs: deps.config.upstreamTimeoutMs,
    maxBodyBytes: deps.config.maxBodyBytes,
    writer,
    budget: deps.budget,
    authCache: deps.authCache,
    catchup,
    applyTimeoutMs: deps.applyTimeoutMs,
    log: deps.log,
    onApply: deps.onApply,
  });
  return {
    app,
    writer,
    catchup,
    start: () => catchup.start(),
    stop: () => catchup.stop(),
  };
}
