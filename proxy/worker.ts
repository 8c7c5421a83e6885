import { ConfigError, parseProxyConfig, type ProxyConfig } from '../src/config.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { AirmirrorError } from '../src/errors.ts';
import { createProxy, type Proxy } from './app.ts';
import { saveCatchupItems } from '../src/catchup/store.ts';
import type { CatchupItem, CatchupSink } from '../src/catchup/types.ts';
import { proxyErrorBody } from './errors.ts';
import { createPgWriter } from './pg-writer.ts';

/**
 * Cloudflare Workers entry. The proxy core is runtime-neutral; here Postgres is reached over TCP
 * with `pg` (nodejs_compat), through Hyperdrive when bound. Workers may not share a socket across
 * requests, so each request gets its own one-connection Database, closed after the answer.
 */
/** The part of the Workers ExecutionContext used here (kept local: no global Workers types in the Node build). */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

/**
 * The Worker's bindings: its vars (strings, read by the same parser as `airmirror start`:
 * AIRTABLE_API_URL, DATABASE_URL, AIRMIRROR_UPSTREAM_TIMEOUT_MS, AIRMIRROR_MAX_BODY_BYTES,
 * AIRMIRROR_PG_PREPARED_STATEMENTS …) and the bindings below.
 */
export interface Env {
  [variable: string]: unknown;
  HYPERDRIVE?: { connectionString: string };
  /** Optional Cloudflare Queue: catch-up ids survive a Postgres outage (see consumeCatchup). */
  CATCHUP_QUEUE?: QueueProducer;
}

/**
 * The proxy's settings from the Worker's vars, through parseProxyConfig: the defaults and the
 * checks of `airmirror start`. A Hyperdrive binding takes precedence over DATABASE_URL. Throws a
 * ConfigError (one line naming the variable) when a var is bad.
 */
export function workerConfig(env: Env): ProxyConfig {
  const vars: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (typeof value === 'string') vars[key] = value;
  const config = parseProxyConfig(vars);
  return env.HYPERDRIVE ? { ...config, databaseUrl: env.HYPERDRIVE.connectionString } : config;
}

/** The part of a Cloudflare Queue producer binding used here. */
export interface QueueProducer {
  send(body: CatchupMessage): Promise<void>;
}

/** What goes through the catch-up queue: ids only, never record contents or tokens. */
export interface CatchupMessage {
  items: CatchupItem[];
}

/** The part of a Cloudflare Queue consumer batch used here. */
export interface QueueBatch {
  messages: ReadonlyArray<{ body: unknown; ack(): void; retry(opts?: { delaySeconds?: number }): void }>;
}

/** Workers may not share a socket across requests: one connection for one request or one batch. */
function oneConnection(url: string, preparedStatements = true): Database {
  return createDatabase(url, { max: 1, connectionTimeoutMs: 5_000, preparedStatements });
}

/** Records catch-up ids in Postgres (and flags the table for `status`), in one transaction. */
async function persistCatchup(url: string, items: CatchupItem[]): Promise<void> {
  const db = oneConnection(url);
  try {
    await db.tx((tx) => saveCatchupItems(tx, items));
  } finally {
    await db.close().catch(() => undefined);
  }
}

/**
 * Without a process to run a retry loop, a write the mirror missed is queued in Postgres after
 * the answer (waitUntil). When Postgres is unreachable too, the ids go to the optional
 * `CATCHUP_QUEUE` (a Cloudflare Queue), whose consumer below retries until Postgres takes them;
 * without that binding they can only be logged (ids only) and the next sweep repairs the rows.
 */
function catchupAfterResponse(ctx: WorkerContext, url: string, queue?: QueueProducer): CatchupSink {
  return {
    enqueue(items: CatchupItem[]) {
      ctx.waitUntil(
        (async () => {
          try {
            await persistCatchup(url, items);
          } catch (err) {
            const reason = err instanceof Error ? err.message : String(err);
            if (queue) {
              try {
                await queue.send({ items });
                return;
              } catch (queueErr) {
                console.error('airmirror: catch-up queue refused the ids', {
                  err: queueErr instanceof Error ? queueErr.message : String(queueErr),
                });
              }
            }
            console.error('airmirror: catch-up not persisted', {
              items: items.map((i) => `${i.baseId}/${i.tableRef}/${i.recordId}:${i.op}`),
              err: reason,
            });
          }
        })(),
      );
    },
  };
}

/**
 * The `CATCHUP_QUEUE` consumer: moves queued ids into Postgres; a message Postgres does not take
 * yet is retried by the queue (with its backoff), so nothing is dropped while Postgres is down.
 */
export async function consumeCatchup(batch: QueueBatch, env: Env): Promise<void> {
  let url: string | undefined;
  try {
    url = workerConfig(env).databaseUrl;
  } catch (err) {
    // Kept in the queue (retried below) until the configuration is fixed.
    console.error(`airmirror: ${(err as Error).message}`);
  }
  for (const message of batch.messages) {
    const items = (message.body as Partial<CatchupMessage> | null)?.items;
    if (!Array.isArray(items) || items.length === 0) {
      message.ack(); // not ours / malformed: retrying would never succeed
      continue;
    }
    if (!url) {
      message.retry({ delaySeconds: 60 });
      continue;
    }
    try {
      await persistCatchup(url, items);
      message.ack();
    } catch {
      message.retry({ delaySeconds: 30 });
    }
  }
}

export function proxyForRequest(env: Env, ctx: WorkerContext): { proxy: Proxy; db?: Database } {
  const config = workerConfig(env);
  const url = config.databaseUrl;
  const db = url ? oneConnection(url, config.pgPreparedStatements) : undefined;
  const proxy = createProxy({
    upstreamUrl: config.airtableApiUrl,
    fetch: (input, init) => fetch(input, init),
    timeoutMs: config.upstreamTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    writer: db ? createPgWriter({ db }) : undefined,
    catchup: url ? catchupAfterResponse(ctx, url, env.CATCHUP_QUEUE) : undefined,
  });
  return { proxy, db };
}

/** A bad var answers every request with this (Airtable-shaped, so a client shows the line). */
function misconfigured(err: ConfigError): Response {
  console.error(`airmirror: ${err.message}`);
  const body = proxyErrorBody(
    new AirmirrorError('PROXY_MISCONFIGURED', 500, `The airmirror proxy is misconfigured: ${err.message}`),
  );
  return Response.json(body, { status: 500 });
}

export default {
  queue: consumeCatchup,
  async fetch(request: Request, env: Env, ctx: WorkerContext): Promise<Response> {
    let built: ReturnType<typeof proxyForRequest>;
    try {
      built = proxyForRequest(env, ctx);
    } catch (err) {
      if (err instanceof ConfigError) return misconfigured(err);
      throw err;
    }
    const { proxy, db } = built;
    try {
      return await proxy.app.fetch(request, env);
    } finally {
      if (db) ctx.waitUntil(db.close().catch(() => undefined));
    }
  },
};
