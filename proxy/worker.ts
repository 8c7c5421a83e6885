import { createDatabase, type Database } from '../src/db/database.ts';
import { createProxy, type Proxy } from './app.ts';
import { insertCatchup, markNeedsCatchup } from './catchup-sql.ts';
import type { CatchupItem, CatchupSink } from './catchup-types.ts';
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

/**
 * Without a process to run a retry loop, a write the mirror missed is queued in Postgres once,
 * after the answer (waitUntil); when Postgres is unreachable the ids are logged (ids only).
 */
function catchupAfterResponse(ctx: WorkerContext, url: string): CatchupSink {
  return {
    enqueue(items: CatchupItem[]) {
      ctx.waitUntil(
        (async () => {
          const db = createDatabase(url, { max: 1, connectionTimeoutMs: 5_000 });
          try {
            await db.tx(async (tx) => {
              await tx.query(insertCatchup(items[0].baseId, items[0].tableRef, items));
              await tx.query(markNeedsCatchup(items[0].baseId, items[0].tableRef));
            });
          } catch (err) {
            console.error('airmirror: catch-up not persisted', {
              items: items.map((i) => `${i.baseId}/${i.tableRef}/${i.recordId}:${i.op}`),
              err: err instanceof Error ? err.message : String(err),
            });
          } finally {
            await db.close().catch(() => undefined);
          }
        })(),
      );
    },
  };
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
    catchup: url ? catchupAfterResponse(ctx, url) : undefined,
  });
  return { proxy, db };
}

export default {
  async fetch(request: Request, env: Env, ctx: WorkerContext): Promise<Response> {
    const { proxy, db } = proxyForRequest(env, ctx);
    try {
      return await proxy.app.fetch(request, env);
    } finally {
      if (db) ctx.waitUntil(db.close().catch(() => undefined));
    }
  },
};
