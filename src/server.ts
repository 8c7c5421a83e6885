import { Hono, type MiddlewareHandler } from 'hono';
import { checkBearer } from './api/auth.ts';
import type { SecretBox } from './crypto/secrets.ts';
import type { Database } from './db/database.ts';
import { subscriptionRoutes } from './events/index.ts';
import type { Logger } from './log.ts';
import { webhookRoutes, type WebhookService } from './webhooks/index.ts';
import { tableLags } from './bookkeeping/index.ts';
import { failingSchemaReads } from './bookkeeping/schema-health.ts';
import { pingDatabase } from './db/health.ts';
import { outboxDepth } from './events/store.ts';
import { apiErrorBody, asAirmirrorError } from './errors.ts';
import type { Metrics } from './metrics.ts';

export interface ServerParts {
  db: Database;
  metrics: Metrics;
  /** Runs before each scrape, to fold in figures other parts keep themselves. */
  beforeScrape?: () => void;
  adminToken?: string;
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
 * The /api route groups mounted beside createApi: event subscriptions and source webhooks. One
 * list, used by the server and by the test that checks the OpenAPI document covers every route.
 */
export function apiExtraGroups(deps: {
  db: Database;
  secrets: SecretBox;
  fetch: typeof fetch;
  webhooks: WebhookService;
  log?: Logger;
}): Hono[] {
  return [
    subscriptionRoutes({ db: deps.db, secrets: deps.secrets, fetch: deps.fetch, log: deps.log }),
    webhookRoutes(deps.webhooks, deps.log),
  ];
}

/**
 * The one HTTP app of `airmirror start`: health, metrics, management API, webhook receiver and
 * the proxy. Route order matters: specific prefixes first, the proxy's `/{host}/v0/*` last.
 */
export function createServerApp(parts: ServerParts): Hono {
  const app = new Hono();
  const { metrics } = parts;

  app.get('/healthz', async (c) => {
    try {
      await pingDatabase(parts.db);
    } catch {
      return c.json({ status: 'degraded', postgres: 'unreachable' }, 503);
    }
    // Bases whose schema cannot be read are retried while it fails: degraded, yet serving (200).
    const schemaReads = await failingSchemaReadsJson(parts.db);
    if (schemaReads.length > 0) return c.json({ status: 'degraded', schema_reads: schemaReads });
    return c.json({ status: 'ok' });
  });

  app.get('/metrics', async (c) => {
    parts.beforeScrape?.();
    await collectDatabaseGauges(parts.db, metrics).catch(() => undefined);
    return c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });

  const extras = new Hono();
  if (parts.adminToken) extras.use('*', bearer(parts.adminToken));
  for (const group of parts.apiExtras) extras.route('/', group);
  // Only paths the extra groups own get past here; everything else falls through to createApi.
  app.route('/api', extras);
  app.route('/api', parts.api);
  if (parts.hooks) app.route('/', parts.hooks);

  app.use('/:host/v0/*', proxyMetrics(metrics));
  app.route('/', parts.proxy);
  return app;
}

function bearer(adminToken: string): MiddlewareHandler {
  return async (c, next) => {
    // Routes no extra group owns must reach createApi (which has its own auth), so only guard
    // paths an extra group will answer.
    if (c.req.path === '/api/openapi.json') return next();
    try {
      await checkBearer(c.req.header('authorization'), adminToken);
    } catch (err) {
      const e = asAirmirrorError(err);
      return c.json(apiErrorBody(e), 401);
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

/** Gauges read from Postgres at scrape time: lag per table and outbox depth. */
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
}
