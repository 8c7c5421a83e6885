import { Hono } from 'hono';
import { baseIdFromUrl } from '../src/airtable/fetch-helpers.ts';
import { asAirmirrorError, type AirmirrorError } from '../src/errors.ts';
import type { Logger } from '../src/log.ts';
import { nodeIncomingOf, readBodyLimited, type NodeIncoming } from '../src/http/body.ts';
import type { ProxyBudget } from './budget-gate.ts';
import { admit, callerOf, clientAddressOf, refusalResponse, type Caller } from './admission.ts';
import { createAuthCache, type AuthCache } from './auth-cache.ts';
import type { CatchupItem, CatchupSink } from '../src/catchup/types.ts';
import {
  ALLOWED_METHODS,
  bodyTooLarge,
  invalidJson,
  methodNotAllowed,
  proxyErrorBody,
  upstreamTimeout,
  upstreamUnreachable,
} from './errors.ts';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { parseProxyUrl, upstreamUrlFor } from './route.ts';
import { classifyWrite, keyedByFromRequest, parseWriteOutcome, type WriteIntent } from './write-intent.ts';
import type { MirrorWrite, MirrorWriter } from './writer.ts';

export type { ProxyBudget } from './budget-gate.ts';

type ProxyLog = Pick<Logger, 'warn' | 'error'> & Partial<Pick<Logger, 'debug'>>;

export interface ProxyDeps {
  /** Where `api.airtable.com` really is (AIRTABLE_API_URL). The only host ever fetched. */
  upstreamUrl: string;
  fetch: typeof fetch;
  /**
   * Upstream answer deadline (headers for reads; the whole answer for writes); also the longest
   * a request waits for a budget slot before the app gets a 429.
   */
  timeoutMs: number;
  maxBodyBytes: number;
  writer?: MirrorWriter;
  /** The shared request budget; every request that addresses a base takes a 'high' slot. */
  budget?: ProxyBudget;
  /**
   * Airtable's recent 401/403 answers, repeated without calling it (proxy/auth-cache.ts). Default:
   * one of the proxy's own; a Worker passes its isolate's.
   */
  authCache?: AuthCache;
  /** Where writes the mirror could not take are queued (invariant 5). */
  catchup?: CatchupSink;
  /** How long the app's answer may wait for the mirror apply before it is queued instead. */
  applyTimeoutMs?: number;
  log?: ProxyLog;
  /** Called after each mirror apply with its duration and outcome (metrics). */
  onApply?: (e: { ms: number; ok: boolean }) => void;
}

export interface Proxy {
  app: Hono;
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
const REFUSED_METHODS = new Set(['TRACE', 'TRACK', 'CONNECT']);
const DEFAULT_APPLY_TIMEOUT_MS = 5_000;

/**
 * The write-through proxy, runtime-neutral (fetch and Web streams only): forwards
 * `/{host}/v0/...` to the configured upstream and, for record writes Airtable accepted, applies
 * Airtable's answer to the mirror before handing that answer back unchanged.
 */
export function createProxy(deps: ProxyDeps): Proxy {
  const applyTimeoutMs = deps.applyTimeoutMs ?? DEFAULT_APPLY_TIMEOUT_MS;
  const authCache = deps.authCache ?? createAuthCache();

  async function forward(
    req: Request,
    rawQuery: string | undefined,
    incoming: NodeIncoming | undefined,
    address: string | undefined,
  ): Promise<Response> {
    const target = parseProxyUrl(req.url);
    if (rawQuery !== undefined) target.query = rawQuery;
    const url = upstreamUrlFor(deps.upstreamUrl, target);
    const method = req.method.toUpperCase();
    // Methods Airtable's API has no use for, and that only serve to probe or tunnel.
    if (REFUSED_METHODS.has(method)) throw methodNotAllowed(method);
    const body =
      method === 'GET' || method === 'HEAD'
        ? null
        : await readBodyLimited(req, deps.maxBodyBytes, incoming, bodyTooLarge);
    const intent = classifyWrite(method, target.path);
    const requestJson = intent && body && body.byteLength > 0 ? parseJson(body) : undefined;

    // Reads count against Airtable's limits as much as writes do (docs/airtable-reference.md §2.1: per base, and
    // per token across bases), so every request that names a base is metered — unless Airtable
    // has just refused its token, which it would do again (proxy/auth-cache.ts).
    const baseId = baseIdFromUrl(target.path);
    const caller = callerOf(
      req,
      target.path,
      baseId,
      method !== 'GET' && method !== 'HEAD',
      address,
      authCache,
    );
    const refused = authCache.refusal(caller.auth);
    if (refused) return refusalResponse(refused);
    const departure =
      baseId && deps.budget ? await admit(deps.budget, baseId, caller, deps.timeoutMs) : undefined;

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, deps.timeoutMs);
    const fail = (err: unknown): AirmirrorError =>
      timedOut ? upstreamTimeout(deps.timeoutMs) : upstreamUnreachable(err);

    let upstream: Response;
    try {
      upstream = await deps.fetch(url, {
        method,
        headers: upstreamRequestHeaders(req.headers),
        body: body && body.byteLength > 0 ? body : undefined,
        signal: controller.signal,
        // A redirect is Airtable's answer to pass on, never a hop to another host.
        redirect: 'manual',
      });
      departure?.answered();
    } catch (err) {
      departure?.answered();
      clearTimeout(timer);
      // A write that timed out may still have been applied by Airtable: re-fetch what it names.
      if (intent && timedOut) {
        queue(
          intent,
          requestedIds(intent, target.query, requestJson),
          intent.kind === 'delete' ? 'delete' : 'upsert',
        );
      }
      throw fail(err);
    }

    const headers = downstreamResponseHeaders(upstream.headers);
    const init = { status: upstream.status, statusText: upstream.statusText, headers };
    const ok = upstream.status >= 200 && upstream.status < 300;
    if (upstream.status === 429 && deps.budget?.penalize) {
      clearTimeout(timer);
      return passRateLimited(upstream, init, method, baseId);
    }
    if (upstream.status === 401 || upstream.status === 403) {
      clearTimeout(timer);
      return passRefusal(upstream, init, method, caller);
    }
    if (ok) {
      authCache.observe(caller.auth, upstream.status);
      if (baseId) deps.budget?.track?.(baseId);
    }
    if (!intent || !ok) {
      clearTimeout(timer);
      // Reads (and refused writes) stream straight through.
      const passBody = method === 'HEAD' || NULL_BODY_STATUS.has(upstream.status) ? null : upstream.body;
      return new Response(passBody, init);
    }

    let answer: Uint8Array<ArrayBuffer>;
    try {
      answer = new Uint8Array(await upstream.arrayBuffer());
    } catch (err) {
      // Airtable said 2xx, so the write may have happened: re-fetch what the request names.
      const ids = requestedIds(intent, target.query, requestJson);
      queue(intent, ids, intent.kind === 'delete' ? 'delete' : 'upsert');
      throw fail(err);
    } finally {
      clearTimeout(timer);
    }
    await mirror(intent, keyedByFromRequest(target.query, requestJson), answer);
    // The answer is whole in memory: say its length, so it goes out in one piece, not chunked.
    headers.set('content-length', String(answer.byteLength));
    return new Response(answer, init);
  }

  /**
   * A 429 is passed on unchanged; when its type is RATE_LIMIT_REACHED (not the billing 429,
   * which waiting does not cure; docs/airtable-reference.md §2.1) the shared budget holds the base off.
   */
  async function passRateLimited(
    upstream: Response,
    init: { status: number; statusText: string; headers: Headers },
    method: string,
    baseId: string | undefined,
  ) {
    const bytes =
      method === 'HEAD' ? null : new Uint8Array(await upstream.arrayBuffer().catch(() => new ArrayBuffer(0)));
    if (baseId && bytes && /"RATE_LIMIT_REACHED"/.test(new TextDecoder().decode(bytes)))
      deps.budget?.penalize?.(baseId);
    return new Response(bytes, init);
  }

  /** A 401/403 is passed on unchanged, and remembered (proxy/auth-cache.ts). */
  async function passRefusal(
    upstream: Response,
    init: { status: number; statusText: string; headers: Headers },
    method: string,
    caller: Caller,
  ) {
    const bytes = new Uint8Array(await upstream.arrayBuffer().catch(() => new ArrayBuffer(0)));
    authCache.observe(caller.auth, upstream.status, bytes, upstream.headers.get('content-type'));
    return new Response(method === 'HEAD' ? null : bytes, init);
  }

  async function mirror(intent: WriteIntent, keyedBy: 'id' | 'name', answer: Uint8Array): Promise<void> {
    if (!deps.writer && !deps.catchup) return;
    let outcome: ReturnType<typeof parseWriteOutcome> = null;
    try {
      outcome = parseWriteOutcome(JSON.parse(new TextDecoder().decode(answer)));
    } catch {
      outcome = null;
    }
    if (!outcome) {
      // Accepted but unreadable: the record the URL names (if any) is re-fetched later.
      deps.log?.warn({ baseId: intent.baseId }, 'proxy: unrecognised write answer; queued for catch-up');
      if (intent.recordId) queue(intent, [intent.recordId], intent.kind === 'delete' ? 'delete' : 'upsert');
      return;
    }
    const write: MirrorWrite = {
      baseId: intent.baseId,
      tableIdOrName: intent.tableIdOrName,
      keyedBy,
      records: outcome.records,
      deletedIds: outcome.deletedIds,
    };
    if (outcome.records.length === 0 && outcome.deletedIds.length === 0) return;
    const started = performance.now();
    try {
      if (!deps.writer) throw new Error('no mirror writer configured');
      const applied = await withDeadline(deps.writer.apply(write), applyTimeoutMs);
      deps.onApply?.({ ms: performance.now() - started, ok: true });
      if (applied === 'pending') {
        // The mirror is being built: queued, these are applied once its tables exist.
        queue(
          intent,
          outcome.records.map((r) => r.id),
          'upsert',
        );
        queue(intent, outcome.deletedIds, 'delete');
      }
    } catch (err) {
      deps.onApply?.({ ms: performance.now() - started, ok: false });
      deps.log?.warn(
        { baseId: intent.baseId, err: err instanceof Error ? err.message : String(err) },
        'proxy: mirror apply failed; queued for catch-up',
      );
      if (deps.catchup?.enqueueWrite) {
        // The sink carries the records themselves (a Worker: nobody could re-fetch them).
        deps.catchup.enqueueWrite({
          baseId: intent.baseId,
          tableRef: intent.tableIdOrName,
          keyedBy,
          records: outcome.records,
          deletedIds: outcome.deletedIds,
          answeredAt: new Date().toISOString(),
        });
        return;
      }
      queue(
        intent,
        outcome.records.map((r) => r.id),
        'upsert',
      );
      queue(intent, outcome.deletedIds, 'delete');
    }
  }

  function queue(intent: WriteIntent, ids: string[], op: CatchupItem['op']): void {
    if (ids.length === 0) return;
    const queuedAt = new Date().toISOString();
    try {
      deps.catchup?.enqueue(
        ids.map((recordId) => ({
          baseId: intent.baseId,
          tableRef: intent.tableIdOrName,
          recordId,
          op,
          queuedAt,
        })),
      );
    } catch (err) {
      deps.log?.error(
        { err: err instanceof Error ? err.message : String(err) },
        'proxy: catch-up enqueue failed',
      );
    }
  }

  function errorResponse(err: unknown): Response {
    const e = asAirmirrorError(err);
    if (e.status >= 500) {
      deps.log?.warn({ code: e.code, err: causeMessage(e) }, 'proxy: request failed');
    } else if (e.code === 'CLIENT_CLOSED_REQUEST') {
      // Nobody is left to answer, and nothing of ours failed (src/http/body.ts).
      deps.log?.debug?.({ code: e.code }, 'proxy: the client went away mid-request');
    }
    const headers = e.status === 405 ? { allow: ALLOWED_METHODS } : undefined;
    return Response.json(proxyErrorBody(e), { status: e.status, headers });
  }

  const app = new Hono();
  const handler = async (c: { req: { raw: Request }; env: unknown }) => {
    try {
      return await forward(
        c.req.raw,
        rawQueryOf(c.env),
        nodeIncomingOf(c.env),
        clientAddressOf(c.req.raw, c.env),
      );
    } catch (err) {
      return errorResponse(err);
    }
  };
  app.all('/:host/v0', handler);
  app.all('/:host/v0/*', handler);
  app.notFound(() => Response.json({ error: 'NOT_FOUND' }, { status: 404 }));
  app.onError((err) => errorResponse(err));
  return { app };
}

/**
 * On Node (@hono/node-server) the request line as received: the URL parser re-encodes some query
 * characters (`'` becomes `%27`), so the query is taken from the raw line to reach Airtable
 * byte for byte. The path keeps the parsed form, whose dot segments are already resolved.
 */
function rawQueryOf(env: unknown): string | undefined {
  const raw = (env as { incoming?: { url?: unknown } } | undefined)?.incoming?.url;
  if (typeof raw !== 'string' || !raw.startsWith('/')) return undefined;
  const q = raw.indexOf('?');
  return q < 0 ? '' : raw.slice(q);
}

/** Record ids a write request names (records created by it have none yet). */
function requestedIds(intent: WriteIntent, query: string, body: unknown): string[] {
  if (intent.recordId) return [intent.recordId];
  if (intent.kind === 'delete') {
    return new URLSearchParams(query.startsWith('?') ? query.slice(1) : query).getAll('records[]');
  }
  const records = (body as { records?: unknown } | undefined)?.records;
  if (!Array.isArray(records)) return [];
  return records.flatMap((r) =>
    r && typeof r === 'object' && typeof r.id === 'string' ? [r.id as string] : [],
  );
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw invalidJson();
  }
}

function causeMessage(e: AirmirrorError): string | undefined {
  const cause = e.cause;
  return cause instanceof Error ? cause.message : cause === undefined ? undefined : String(cause);
}

/** Rejects when `p` has not settled within `ms`; `p` itself keeps running. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`mirror apply took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
