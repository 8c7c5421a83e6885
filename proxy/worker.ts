import { createDatabase, type Database } from '../src/db/database.ts';
import { createProxy, type Proxy } from './app.ts';
import { insertCatchup, markNeedsCatchup } from '../src/catchup/store.ts';
import type { CatchupItem, CatchupSink } from '../src/catchup/types.ts';
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

export interface Env {
  AIRTABLE_API_URL?: string;
  DATABASE_URL?: string;
  HYPERDRIVE?: { connectionString: string };
  AIRMIRROR_UPSTREAM_TIMEOUT_MS?: string;
  AIRMIRROR_MAX_BODY_BYTES?: string;
  /** Optional Cloudflare Queue: catch-up ids survive a Postgres outage (see consumeCatchup). */
  CATCHUP_QUEUE?: QueueProducer;
  /** "off" behind a pooler in transaction mode that cannot keep named prepared statements. */
  AIRMIRROR_PG_PREPARED_STATEMENTS?: string;
}

function connectionString(env: Env): string | undefined {
  return env.HYPERDRIVE?.connectionString ?? env.DATABASE_URL;
}

function numberOr(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return v !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
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

/** Records catch-up ids in Postgres (and flags the table for `status`), in one transaction. */
async function persistCatchup(url: string, items: CatchupItem[]): Promise<void> {
  const db = createDatabase(url, { max: 1, connectionTimeoutMs: 5_000 });
  try {
    await db.tx(async (tx) => {
      await tx.query(insertCatchup(items[0].baseId, items[0].tableRef, items));
      await tx.query(markNeedsCatchup(items[0].baseId, items[0].tableRef));
    });
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
  const url = connectionString(env);
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
  const url = connectionString(env);
  const db = url
    ? createDatabase(url, {
        max: 1,
        connectionTimeoutMs: 5_000,
        preparedStatements: env.AIRMIRROR_PG_PREPARED_STATEMENTS?.toLowerCase() !== 'off',
      })
    : undefined;
  const proxy = createProxy({
    upstreamUrl: (env.AIRTABLE_API_URL ?? 'https://api.airtable.com').replace(/\/+$/, ''),
    fetch: (input, init) => fetch(input, init),
    timeoutMs: numberOr(env.AIRMIRROR_UPSTREAM_TIMEOUT_MS, 30_000),
    maxBodyBytes: numberOr(env.AIRMIRROR_MAX_BODY_BYTES, 2_000_000),
    writer: db ? createPgWriter({ db }) : undefined,
    catchup: url ? catchupAfterResponse(ctx, url, env.CATCHUP_QUEUE) : undefined,
  });
  return { proxy, db };
}

export default {
  queue: consumeCatchup,
  async fetch(request: Request, env: Env, ctx: WorkerContext): Promise<Response> {
    const { proxy, db } = proxyForRequest(env, ctx);
    try {
      return await proxy.app.fetch(request, env);
    } finally {
      if (db) ctx.waitUntil(db.close().catch(() => undefined));
    }
  },
};
