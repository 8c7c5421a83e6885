import { Hono, type MiddlewareHandler } from 'hono';
import { checkBearer } from './api/auth.ts';
import type { SecretBox } from './crypto/secrets.ts';
import type { Database } from './db/database.ts';
import { subscriptionRoutes } from './events/index.ts';
import type { Logger } from './log.ts';
import { webhookRoutes, type WebhookService } from './webhooks/index.ts';
import { quotaRoutes, type QuotaService } from './quota/index.ts';
import { processViews, tableLags } from './bookkeeping/index.ts';
import { failingSchemaReads } from './bookkeeping/schema-health.ts';
import { pingDatabase } from './db/health.ts';
import { outboxDepth } from './events/store.ts';
import { apiErrorBody, asAirmirrorError } from './errors.ts';
import { managementGuard, type GuardOptions } from './http/guard.ts';
import type { Metrics } from './metrics.ts';
import type { PostgresWatch } from './db/watch.ts';

export interface ServerParts {
  db: Database;
  metrics: Metrics;
  /** Runs before each scrape, to fold in figures other parts keep themselves. */
  beforeScrape?: () => void | Promise<void>;
  adminToken?: string;
  /** AIRMIRROR_METRICS_PUBLIC: `/metrics` without the admin token even when one is set. */
  metricsPublic?: boolean;
  /**
   * Who the management surface (`/api/*`, `/metrics`) answers: Host, Origin and JSON-only
   * checks (src/http/guard.ts), with or without an admin token.
   */
  guard: GuardOptions;
  /** Whether Postgres is there, for `/healthz` (src/db/watch.ts). */
  postgres?: PostgresWatch;
  /** Proxy writes held in this process until Postgres takes them, for `/healthz`. */
  pendingCatchup?: () => number;
  /** createApi(...) — sources, schemas, actions, OpenAPI, status. Has its own auth and catch-all. */
  api: Hono;
  /** Other /api route groups (subscriptions, source webhooks); mounted before `api`. */
  apiExtras: Hono[];
  /** Unauthenticated routes at the root (the Airtable webhook receiver, MAC-verified). */
  hooks?: Hono;
  /** The write-through proxy; claims `/{host}/v0/*`, so it is mounted last. */
  proxy: Hono;
}

/**
 * The /api route groups mounted beside createApi: event subscriptions, source webhooks and the
 * monthly call quota. One list, used by the server and by the test that checks the OpenAPI
 * document covers every route.
 */
export function apiExtraGroups(deps: {
  db: Database;
  secrets: SecretBox;
  fetch: typeof fetch;
  webhooks: WebhookService;
  quota?: QuotaService;
  log?: Logger;
}): Hono[] {
  return [
    subscriptionRoutes({ db: deps.db, secrets: deps.secrets, fetch: deps.fetch, log: deps.log }),
    webhookRoutes(deps.webhooks, deps.log),
    ...(deps.quota ? [quotaRoutes(deps.quota, deps.log)] : []),
  ];
}

/**
 * The one HTTP app of `airmirror start`: health, metrics, management API, webhook receiver and
 * the proxy. Route order matters: specific prefixes first, the proxy's `/{host}/v0/*` last.
 */
export function createServerApp(parts: ServerParts): Hono {
  const app = new Hono();
  const { metrics } = parts;

  // No route of any part answers these: TRACE echoes a request back (headers and all), TRACK is
  // its IIS twin; CONNECT never gets here on Node (src/serve-http.ts refuses it).
  app.use('*', async (c, next) => {
    if (REFUSED_METHODS.has(c.req.method.toUpperCase())) {
      return c.body(null, 405, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' });
    }
    return next();
  });

  app.get('/healthz', async (c) => {
    const pending = parts.pendingCatchup?.();
    const extra = pending === undefined ? {} : { catchup_pending: pending };
    try {
      await withDeadline(pingDatabase(parts.db), HEALTH_PING_MS);
      parts.postgres?.noteAnswer();
    } catch (err) {
      parts.postgres?.noteError(err);
      const since = parts.postgres?.state().since ?? null;
      return c.json(
        { status: 'degraded', postgres: 'unreachable', since: since?.toISOString() ?? null, ...extra },
        503,
      );
    }
    // Bases whose schema cannot be read are retried while it fails: degraded, yet serving (200).
    const schemaReads = await failingSchemaReadsJson(parts.db);
    if (schemaReads.length > 0)
      return c.json({ status: 'degraded', postgres: 'ok', schema_reads: schemaReads, ...extra });
    return c.json({ status: 'ok', postgres: 'ok', ...extra });
  });

  const guard = managementGuard(parts.guard);
  app.use('/metrics', guard);
  if (parts.adminToken && !parts.metricsPublic) app.use('/metrics', bearer(parts.adminToken));
  app.get('/metrics', async (c) => {
    await Promise.resolve(parts.beforeScrape?.()).catch(() => undefined);
    await collectDatabaseGauges(parts.db, metrics).catch(() => undefined);
    return c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });

  app.use('/api', guard);
  app.use('/api/*', guard);
  const extras = new Hono();
  if (parts.adminToken) extras.use('*', bearer(parts.adminToken, { skip: '/api/openapi.json' }));
  for (const group of parts.apiExtras) extras.route('/', group);
  // Only paths the extra groups own get past here; everything else falls through to createApi.
  app.route('/api', extras);
  app.route('/api', parts.api);
  if (parts.hooks) app.route('/', parts.hooks);

  app.use('/:host/v0/*', proxyMetrics(metrics));
  app.route('/', parts.proxy);
  return app;
}

const REFUSED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT']);

/** `/healthz` answers within this even when Postgres does not (a black-holed server, a full pool). */
const HEALTH_PING_MS = 3_000;

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // A connection error (src/db/connection-errors.ts): Postgres did not answer in time.
      reject(Object.assign(new Error(`Postgres did not answer within ${ms} ms`), { code: 'ETIMEDOUT' }));
    }, ms);
  });
  p.catch(() => undefined); // settles after the deadline: not an unhandled rejection
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function bearer(adminToken: string, opts: { skip?: string } = {}): MiddlewareHandler {
  return async (c, next) => {
    // The API's description is public (createApi answers it without a token).
    if (c.req.path === opts.skip) return next();
    try {
      await checkBearer(c.req.header('authorization'), adminToken);
    } catch (err) {
      const e = asAirmirrorError(err);
      return c.json(apiErrorBody(e), e.status as 401, { 'WWW-Authenticate': 'Bearer' });
    }
    return next();
  };
}

function proxyMetrics(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    await next();
    metrics.proxyRequests.inc({ method: c.req.method, status: String(c.res.status) });
  };
}

/** Sources whose base-schema reads fail, for /healthz (src/bookkeeping/schema-health.ts). */
async function failingSchemaReadsJson(db: Database) {
  const failing = await failingSchemaReads(db).catch(() => []);
  return failing.map((f) => ({
    source: f.sourceId,
    base_id: f.baseId,
    error: f.error,
    failing_since: f.since.toISOString(),
    failures: f.failures,
    next_retry_at: f.retryAt?.toISOString() ?? null,
  }));
}

/** Gauges read from Postgres at scrape time: lag per table, outbox depth, base owners. */
async function collectDatabaseGauges(db: Database, metrics: Metrics): Promise<void> {
  const lags = await tableLags(db);
  metrics.tableLagSeconds.reset();
  for (const r of lags) {
    if (r.lagSeconds !== null) {
      metrics.tableLagSeconds.set({ source: r.sourceId, table: r.mirrorTable }, r.lagSeconds);
    }
  }
  const depth = await db.query<{ n: string }>(outboxDepth());
  metrics.outboxDepth.set(Number(depth.rows[0]?.n ?? 0));
  // Who owns which base, and how fresh each process's heartbeat is (docs/ownership.md).
  metrics.baseOwner.reset();
  metrics.processHeartbeatAgeSeconds.reset();
  for (const p of await processViews(db)) {
    const who = { process_id: p.processId, host: p.host, pid: String(p.pid) };
    if (p.alive) metrics.processHeartbeatAgeSeconds.set({ ...who, role: p.role }, p.heartbeatAgeSeconds);
    for (const source of p.bases) metrics.baseOwner.set({ ...who, source }, 1);
  }
}
