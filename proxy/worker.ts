import { createBudgetWindows } from '../src/airtable/budget-windows.ts';
import { createRequestBudget, type IsolateBudgetState } from '../src/airtable/request-budget.ts';
import { createPostgresAuthority, fallbackRules, sharedRules } from '../src/airtable/shared-budget.ts';
import { applyCaughtUpWrite } from '../src/catchup/apply-write.ts';
import { ConfigError, parseProxyConfig, type ProxyConfig } from '../src/config.ts';
import { createDatabase, type Database } from '../src/db/database.ts';
import { AirmirrorError } from '../src/errors.ts';
import { createProxy, type Proxy } from './app.ts';
import { createAuthCache } from './auth-cache.ts';
import { saveCatchupItems } from '../src/catchup/store.ts';
import type { CatchupItem, CatchupSink, CatchupWrite } from '../src/catchup/types.ts';
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
  /** Optional Cloudflare Queue: missed writes survive a Postgres outage (see consumeCatchup). */
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

/**
 * What goes through the catch-up queue: the records of a write Airtable accepted (applied by the
 * consumer once Postgres answers), or only ids (a write whose answer never came, or one too big for
 * a queue message: the syncer re-fetches those). Never a token.
 */
export interface CatchupMessage {
  items?: CatchupItem[];
  write?: CatchupWrite;
}

/** Cloudflare Queues take messages up to 128 KB; a bigger write travels as its ids. */
const MAX_MESSAGE_BYTES = 120_000;

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

/** Applies a queued write (src/catchup/apply-write.ts) on a connection of its own. */
async function applyWrite(url: string, write: CatchupWrite): Promise<void> {
  const db = oneConnection(url);
  try {
    await applyCaughtUpWrite(db, write);
  } finally {
    await db.close().catch(() => undefined);
  }
}

const idsOf = (w: CatchupWrite): CatchupItem[] => [
  ...w.records.map((r) => ({
    baseId: w.baseId,
    tableRef: w.tableRef,
    recordId: r.id,
    op: 'upsert' as const,
    queuedAt: w.answeredAt,
  })),
  ...w.deletedIds.map((recordId) => ({
    baseId: w.baseId,
    tableRef: w.tableRef,
    recordId,
    op: 'delete' as const,
    queuedAt: w.answeredAt,
  })),
];

/** The message for a write: its records, or its ids when they would not fit a queue message. */
function messageOf(write: CatchupWrite): CatchupMessage {
  const withRecords = { write };
  return new TextEncoder().encode(JSON.stringify(withRecords)).byteLength <= MAX_MESSAGE_BYTES
    ? withRecords
    : { items: idsOf(write) };
}

/**
 * Without a process to run a retry loop, a write the mirror missed is handled after the answer
 * (waitUntil): its records are applied once more (Postgres may have been only slow), or its ids
 * queued in Postgres. When Postgres is unreachable, the message goes to the optional
 * `CATCHUP_QUEUE` (a Cloudflare Queue) — with the records, since this Worker holds no Airtable
 * token to re-fetch them — and the consumer below applies them once Postgres answers. Without that
 * binding they can only be logged (ids only) and the next sweep repairs the rows.
 */
function catchupAfterResponse(ctx: WorkerContext, url: string, queue?: QueueProducer): CatchupSink {
  const later = (work: () => Promise<void>, message: CatchupMessage) =>
    ctx.waitUntil(
      (async () => {
        try {
          await work();
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          if (queue) {
            try {
              await queue.send(message);
              return;
            } catch (queueErr) {
              console.error('airmirror: catch-up queue refused the message', {
                err: queueErr instanceof Error ? queueErr.message : String(queueErr),
              });
            }
          }
          const items = message.items ?? (message.write ? idsOf(message.write) : []);
          console.error('airmirror: catch-up not persisted', {
            items: items.map((i) => `${i.baseId}/${i.tableRef}/${i.recordId}:${i.op}`),
            err: reason,
          });
        }
      })(),
    );
  return {
    enqueue: (items) => later(() => persistCatchup(url, items), { items }),
    enqueueWrite: (write) => later(() => applyWrite(url, write), messageOf(write)),
  };
}

/**
 * The `CATCHUP_QUEUE` consumer: applies queued writes (their records) and moves queued ids into
 * Postgres; a message Postgres does not take yet is retried by the queue, so nothing is dropped
 * while Postgres is down.
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
    const body = message.body as Partial<CatchupMessage> | null;
    const items = Array.isArray(body?.items) && body.items.length > 0 ? body.items : undefined;
    const write = isWrite(body?.write) ? body.write : undefined;
    if (!items && !write) {
      message.ack(); // not ours / malformed: retrying would never succeed
      continue;
    }
    // Retried after the consumer's `retry_delay` (wrangler.toml) while Postgres does not answer.
    if (!url) {
      message.retry();
      continue;
    }
    try {
      if (write) await applyWrite(url, write);
      if (items) await persistCatchup(url, items);
      message.ack();
    } catch {
      message.retry();
    }
  }
}

function isWrite(w: unknown): w is CatchupWrite {
  const x = w as Partial<CatchupWrite> | undefined;
  return (
    typeof x?.baseId === 'string' &&
    typeof x.tableRef === 'string' &&
    (x.keyedBy === 'id' || x.keyedBy === 'name') &&
    Array.isArray(x.records) &&
    Array.isArray(x.deletedIds) &&
    typeof x.answeredAt === 'string'
  );
}

/**
 * What an isolate keeps between requests (Workers reuse an isolate for many): Airtable's recent
 * 401/403 answers (proxy/auth-cache.ts), and the shared budget's fallback windows, penalties seen
 * and bases seen valid (src/airtable/request-budget.ts). Lost when the isolate goes, which only
 * costs a call or a claim.
 */
const isolate: { auth: ReturnType<typeof createAuthCache>; budget?: IsolateBudgetState; rate?: number } = {
  auth: createAuthCache(),
};

function isolateBudget(rateLimitPerSecond: number): IsolateBudgetState {
  if (!isolate.budget || isolate.rate !== rateLimitPerSecond) {
    const rules = sharedRules({ perSecond: rateLimitPerSecond });
    isolate.budget = {
      windows: createBudgetWindows(fallbackRules(rules, 0.2), Date.now),
      tracked: new Map(),
    };
    isolate.rate = rateLimitPerSecond;
  }
  return isolate.budget;
}

/**
 * The proxy for one request. With Postgres configured, every request that names a base takes its
 * slot from the shared budget (one claim on the request's connection: the budget of every
 * `airmirror start` and Worker on that Postgres), and its call is counted there; if Postgres does
 * not answer, the isolate's fallback share decides, and the app still gets its answer.
 */
export function proxyForRequest(env: Env, ctx: WorkerContext): { proxy: Proxy; db?: Database } {
  const config = workerConfig(env);
  const url = config.databaseUrl;
  const db = url ? oneConnection(url, config.pgPreparedStatements) : undefined;
  const rules = sharedRules({ perSecond: config.rateLimitPerSecond });
  const state = isolateBudget(config.rateLimitPerSecond);
  const budget = db
    ? createRequestBudget({
        authority: createPostgresAuthority({
          db,
          rules,
          now: Date.now,
          clock: 'postgres',
          windows: state.windows,
          log: { warn: (obj, msg) => console.error(`airmirror: ${msg}`, obj) },
        }),
        state,
        penaltyMs: rules.penaltyMs,
        waitUntil: (p) => ctx.waitUntil(p),
      })
    : undefined;
  const proxy = createProxy({
    upstreamUrl: config.airtableApiUrl,
    fetch: (input, init) => fetch(input, init),
    timeoutMs: config.upstreamTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    writer: db ? createPgWriter({ db }) : undefined,
    budget,
    authCache: isolate.auth,
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
