/**
 * `airmirror start` on Node: composes the shared parts into one process — Postgres (embedded
 * unless DATABASE_URL), migrations, the syncer and its scheduler, the write-through proxy, the
 * management API, webhooks in, events out, metrics — and, in demo mode, the Airtable emulator.
 */
import { createAirtableClient, createNodeFetch } from './airtable/index.ts';
import { openProcessBudget } from './airtable/process-budget.ts';
import { createApi } from './api/index.ts';
import type { Config } from './config.ts';
import { ensureSecretKey } from './crypto/key-file.ts';
import { createSecretBox } from './crypto/secrets.ts';
import type { Database } from './db/database.ts';
import { createEmulator, DEMO_BASE_ID, EMULATOR_TOKEN } from '../emulator/index.ts';
import { startEmulatorServer } from '../emulator/server.ts';
import { createDeliverer } from './events/index.ts';
import type { Logger } from './log.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { budgetWaitsCollector, instrumentFetch, instrumentUpstream, observeRun } from './node-metrics.ts';
import { runWithSyncer, Scheduler } from './scheduler/index.ts';
import { CatchupLoop } from './catchup/loop.ts';
import { pingDatabase } from './db/health.ts';
import { PostgresWatch } from './db/watch.ts';
import { serveHttp } from './serve-http.ts';
import { enableDemoWebhooks } from './demo-webhooks.ts';
import { apiExtraGroups, createServerApp } from './server.ts';
import { createWebhookService, webhookReceiver, webhookStrategy } from './webhooks/index.ts';
import {
  quotaFromConfig,
  quotaGatedFetch,
  quotaMetricsCollector,
  schedulerPace,
  serializeReport,
  sourceTokenKeyOf,
} from './quota/index.ts';
import { listWebhookRows } from './webhooks/store.ts';
import { createNodeProxy } from '../proxy/node.ts';
import { startPostgresEndpoint } from '../proxy/pg/node.ts';
import { appendStrategy } from '../sync/append.ts';
import { incrementalStrategy } from '../sync/incremental.ts';
import { openCommandDatabase } from '../sync/runtime.ts';
import { createBaseOwnership, createSyncer, type BaseOwnership, type Syncer } from '../sync/index.ts';
import { followOwnership, refreshAnywhere, schedulerOwnership, webhookOwnership } from './replicas.ts';
import {
  callsThisMonthByToken,
  ensureSourcesFromConfig,
  loadSource,
  tokenResolver,
} from './bookkeeping/index.ts';
import { createRetentionLoop } from './bookkeeping/retention-loop.ts';

export interface RunningAirmirror {
  /** Base URL of the HTTP server (proxy at `${url}/api.airtable.com`, API at `${url}/api`). */
  url: string;
  databaseUrl: string;
  /** The Postgres endpoint (same credentials as `databaseUrl`), unless AIRMIRROR_PG_PORT=off. */
  endpointUrl?: string;
  /** Demo mode only: the built-in emulator standing in for api.airtable.com. */
  emulator?: { url: string; token: string; baseId: string };
  config: Config;
  db: Database;
  syncer: Syncer;
  /** Which bases this process works on, among every process on the same Postgres. */
  ownership: BaseOwnership;
  metrics: Metrics;
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  fetch?: typeof fetch;
}

export async function startAirmirror(input: Config, opts: StartOptions): Promise<RunningAirmirror> {
  const { log } = opts;
  const fetchFn = opts.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => fetch(i, init));
  const cleanups: Array<() => Promise<void>> = [];
  // Requests to Airtable (syncer, webhooks, API lookups) go through node:http, which costs half the
  // CPU per page of the built-in fetch (src/airtable/node-fetch.ts). The proxy keeps the built-in
  // fetch: it relays answers as they are, and the deliverer posts to arbitrary receivers.
  const airtableFetch: typeof fetch = opts.fetch ?? nodeFetchClosedOnStop(cleanups);
  const stopAll = async () => {
    for (const c of cleanups.reverse())
      await c().catch((err) => log.error({ err: String(err) }, 'stop failed'));
  };

  try {
    let config = input;
    let emulator: RunningAirmirror['emulator'];
    if (config.demo) {
      // Demo: the built-in emulator plays api.airtable.com, with the seeded demo base configured.
      const emu = createEmulator({ seed: 'demo', log: log.child({ name: 'emulator' }) });
      const server = await startEmulatorServer(emu, { port: 0 });
      emu.webhooks.start();
      cleanups.push(async () => {
        await emu.webhooks.stop();
        await server.close();
      });
      emulator = { url: server.url, token: EMULATOR_TOKEN, baseId: DEMO_BASE_ID };
      config = {
        ...config,
        airtableApiUrl: server.url,
        airtableToken: EMULATOR_TOKEN,
        bases: [{ baseId: DEMO_BASE_ID, schema: 'public' }],
        secretKey: config.secretKey ?? ensureSecretKey(config.dataDir),
      };
    }

    // Told of every failed connection (a Postgres restart fails them all at once), it logs the
    // outage once, shows it on /healthz and, when Postgres answers again, wakes what waits for it.
    const resume: Array<() => void> = [];
    const watch = new PostgresWatch({
      // Probes start only after watch.start(), once `database` is open.
      ping: () => pingDatabase(database.db),
      log,
      onRecovered: () => resume.forEach((f) => f()),
    });
    const database = await openCommandDatabase(config, {
      onError: (err) => {
        log.debug({ err: err.message }, 'a Postgres connection failed');
        watch.noteError(err);
      },
    });
    cleanups.push(() => database.close());
    const { db } = database;
    const databaseUrl = db.url;
    watch.start();
    cleanups.push(() => watch.stop());

    const metrics = createMetrics({ defaults: true });
    // One budget for every process and Worker here (invariants 6, 9); closed after all senders.
    const shared = openProcessBudget({
      databaseUrl: databaseUrl,
      perSecond: config.rateLimitPerSecond,
      preparedStatements: config.pgPreparedStatements,
      log,
      bases: config.bases.map((b) => b.baseId),
      onClaim: ({ ms, degraded }) => {
        if (degraded) metrics.rateBudgetFallbackClaims.inc();
        else metrics.rateBudgetClaimSeconds.observe(ms / 1000);
      },
    });
    cleanups.push(() => shared.close());
    const budget = shared.budget;
    const secrets = createSecretBox(config.secretKey!);
    const countingFetch = instrumentFetch(airtableFetch, metrics);
    const quota = quotaFromConfig(config, {
      db,
      log,
      // Every call of every process and Worker, counted by the shared budget (src/airtable/store.ts).
      callsByToken: (at) => callsThisMonthByToken(db, { at }),
      sourceTokenKey: (id) => sourceTokenKeyOf(db, tokenFor, id),
    });
    const backgroundFetch = quotaGatedFetch(countingFetch, quota); // airmirror's own calls only

    // Env-configured bases become sources; their token stays in memory, API-created sources'
    // tokens are stored encrypted. One resolver serves the syncer, webhooks and the API.
    const { tokens } = await ensureSourcesFromConfig(db, config);
    const tokenFor = tokenResolver({ tokens, secretKey: config.secretKey });
    const clientFor = async (source: { id: string; baseId: string }) => {
      const row = await loadSource(db, source.id);
      if (!row) throw new Error(`source ${source.id} not found`);
      return createAirtableClient({
        apiUrl: config.airtableApiUrl,
        token: await tokenFor(row),
        fetch: backgroundFetch,
        budget,
        timeoutMs: config.upstreamTimeoutMs,
      });
    };

    // Every process on this Postgres shares the bases (docs/ownership.md); this one joins them.
    const ownership = createBaseOwnership({ db, log, role: 'start' });
    const syncer = createSyncer({
      ownership,
      db,
      log,
      fetch: backgroundFetch,
      budget,
      apiUrl: config.airtableApiUrl,
      tokenFor,
      hashCacheSize: config.hashCacheSize,
      clientOptions: { timeoutMs: config.upstreamTimeoutMs },
      strategies: [incrementalStrategy, appendStrategy, webhookStrategy],
    });
    await syncer.start();
    cleanups.push(() => syncer.stop());

    const catchup = new CatchupLoop({
      db,
      log,
      owner: ownership,
      fetchRecords: async ({ sourceId, baseId, tableId, recordIds, fields }) =>
        (await clientFor({ id: sourceId, baseId })).getRecordsByIds(baseId, tableId, recordIds, { fields }),
    });
    let demoHooks: Promise<void> | undefined;
    const scheduler = new Scheduler({
      db,
      log,
      maxConcurrent: config.syncConcurrency,
      maxPerSource: config.syncConcurrencyPerBase,
      owner: schedulerOwnership(db, ownership),
      pace: schedulerPace(quota), // rarer sweeps and polls while calls run short
      run: async (table, runOpts) => {
        const started = performance.now();
        const result = await runWithSyncer(syncer)(table, runOpts);
        observeRun(metrics, result, (performance.now() - started) / 1000);
        return result;
      },
      // A base's first build (the scheduler only knows tables once a source's schema was read).
      build: async (sourceId, runOpts) => {
        const result = await syncer.syncSource(sourceId, runOpts);
        for (const t of result.tables) observeRun(metrics, t);
        // Proxy writes that came while the mirror was being built were queued: apply them now.
        catchup.nudge();
        if (config.demo && result.rebuilt) {
          demoHooks ??= enableDemoWebhooks({ db, webhooks, log }).catch((err) =>
            log.error({ err: String(err) }, 'demo: could not register the Airtable webhook'),
          );
        }
        return result;
      },
    });
    const refresh = refreshAnywhere(ownership, (sourceId) => syncer.refreshSchema(sourceId));

    const proxy = createNodeProxy({
      config,
      db,
      budget,
      fetch: instrumentUpstream(fetchFn, metrics),
      refreshSchema: refresh,
      onCatchupQueued: () => {
        catchup.nudge();
        // The base may be another process's: its owner drains the queue.
        ownership.announce({ kind: 'wake' }).catch(() => undefined);
      },
      onApply: ({ ms, ok }) => {
        metrics.mirrorApplySeconds.observe({ origin: 'proxy' }, ms / 1000);
        if (!ok) metrics.mirrorApplyFailures.inc({ origin: 'proxy' });
      },
      log,
    });

    const deliverer = createDeliverer({
      db,
      fetch: fetchFn,
      secrets,
      log,
      outboxRetentionMs: config.retention.outboxMs,
      onPass: (r) => {
        if (r.failed) metrics.eventDeliveryFailures.inc(r.failed);
      },
    });
    // The demo's webhook address is our own, known once the server listens (PORT may be 0).
    const demoAddress: { url?: string } = {};
    const publicUrl = config.demo ? () => config.publicUrl ?? demoAddress.url : config.publicUrl;
    const webhooks = createWebhookService({
      db,
      secrets,
      publicUrl,
      syncer,
      hashCache: syncer.hashCache,
      owner: webhookOwnership(ownership, log),
      log,
      clientFor,
      drainWindowMs: (sourceId) => quota.drainWindowMs(sourceId),
    });
    followOwnership(ownership, { scheduler, syncer, webhooks, catchup, log });

    const api = createApi({
      db,
      secrets,
      adminToken: config.adminToken,
      publicUrl,
      runner: scheduler,
      syncer: {
        refreshSchema: refresh,
        primeSchema: (id, schema) => syncer.primeSchema(id, schema),
        cancel: (key) => syncer.cancel(key),
      },
      airtable: (_source, token) =>
        createAirtableClient({
          apiUrl: config.airtableApiUrl,
          token: token ?? config.airtableToken ?? '',
          fetch: countingFetch,
          budget,
        }),
      quota: async () => serializeReport(await quota.fullReport()),
      onSourceChanged: () => quota.invalidate(),
      log,
    });

    resume.push(
      () => catchup.nudge(),
      () => deliverer.wake(),
      // Pings Airtable sent while Postgres was away were answered 500 (Airtable retries them
      // only after 10 s and more): read what they announced now.
      () =>
        void listWebhookRows(db)
          .then((rows) => rows.forEach((r) => webhooks.ping(r.source_id)))
          .catch(() => undefined),
    );

    const app = createServerApp({
      db,
      metrics,
      beforeScrape: scrapeBoth(budgetWaitsCollector(budget, metrics), quotaMetricsCollector(quota, metrics)),
      adminToken: config.adminToken,
      metricsPublic: config.metricsPublic,
      guard: { host: config.host, publicUrl },
      postgres: watch,
      pendingCatchup: () => proxy.catchup.pending(),
      api,
      apiExtras: apiExtraGroups({ db, secrets, fetch: fetchFn, webhooks, quota, log }),
      hooks: webhookReceiver(webhooks, log),
      proxy: proxy.app,
    });

    const server = await serveHttp(app.fetch, { host: config.host, port: config.port });
    const port = server.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${host}:${port}`;
    demoAddress.url = url.replace(/\/\/(0\.0\.0\.0|\[::\])(?=:)/, '//127.0.0.1');

    proxy.start();
    cleanups.push(() => proxy.stop());
    const endpoint = await startPostgresEndpoint({
      config,
      db,
      budget,
      fetch: countingFetch,
      tokenFor: async (sourceId) => {
        const row = await loadSource(db, sourceId);
        if (!row) throw new Error(`source ${sourceId} not found`);
        return tokenFor(row);
      },
      catchup: proxy.catchup,
      log,
    });
    if (endpoint) cleanups.push(() => endpoint.close());
    catchup.start();
    cleanups.push(() => catchup.stop());
    deliverer.start();
    cleanups.push(() => deliverer.stop());
    webhooks.start();
    cleanups.push(() => webhooks.stop());
    // Fence stamps, sync runs, delivered events and dead letters are pruned on a schedule.
    const retention = createRetentionLoop({ db, log, settings: config.retention });
    retention.start();
    cleanups.push(() => retention.stop());
    // Join the processes on this Postgres and take a fair share of the bases; the scheduler
    // builds the bases never built at once, and runs tables as they fall due.
    await ownership.start();
    scheduler.start();
    cleanups.push(async () => {
      // Runs end as interruptions (due again at once for the next owner), then the bases are
      // handed over at once.
      await scheduler.stop();
      await webhooks.stop();
      await catchup.stop();
      await syncer.stop();
      await demoHooks;
      await ownership.stop();
    });

    // Pushed last so it runs first: stop taking requests before the loops and Postgres go away.
    cleanups.push(() => server.close());

    return {
      url,
      databaseUrl,
      endpointUrl: endpoint?.url,
      emulator,
      config,
      db,
      syncer,
      ownership,
      metrics,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The Node fetch for Airtable calls, its sockets closed when the process stops. */
function nodeFetchClosedOnStop(cleanups: Array<() => Promise<void>>): typeof fetch {
  const f = createNodeFetch();
  cleanups.push(async () => f.close());
  return f;
}

/** Before a scrape: the budget's own counts, then the quota's figures. */
function scrapeBoth(budgetWaits: () => void, quotaFigures: () => Promise<void>): () => Promise<void> {
  return async () => {
    budgetWaits();
    await quotaFigures();
  };
}
