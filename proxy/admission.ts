import { bearerTokenOf } from '../src/airtable/fetch-helpers.ts';
import { tokenKeyOf } from '../src/airtable/rate-budget.ts';
import type { Departure } from '../src/airtable/budget-types.ts';
import type { AuthCache, AuthRequest, CachedRefusal } from './auth-cache.ts';
import { takeBudgetSlot, type ProxyBudget } from './budget-gate.ts';

/**
 * Who a proxy request is, for the budget (issue 14, "budget theft"): its token's key, what the
 * auth cache knows of it, and its fairness key. A token Airtable has lately accepted is its own
 * client and has its own per-token window; any other request is fair-queued by the client's
 * address (made-up tokens from one place share one turn) and is not given a token window (junk
 * tokens leave no state behind; its first answer settles which it is).
 */
export interface Caller {
  token: string | undefined;
  auth: AuthRequest;
  /** The token, when Airtable has lately accepted it. */
  knownToken: string | undefined;
  client: string;
}

export function callerOf(
  req: Request,
  path: string,
  baseId: string | undefined,
  write: boolean,
  address: string | undefined,
  cache: AuthCache,
): Caller {
  const token = bearerTokenOf(req);
  const tokenKey = token === undefined ? '' : tokenKeyOf(token);
  const known = cache.verified(tokenKey);
  return {
    token,
    auth: { tokenKey, baseId, table: baseId ? segmentAfter(path, baseId) : undefined, write },
    knownToken: known ? token : undefined,
    client: known ? `token:${tokenKey}` : `addr:${address ?? 'unknown'}`,
  };
}

/** The budget slot of a request to a base (see takeBudgetSlot); its answer is to be reported. */
export function admit(
  budget: ProxyBudget,
  baseId: string,
  caller: Caller,
  maxWaitMs: number,
): Promise<Departure | undefined> {
  return takeBudgetSlot(budget, baseId, caller.knownToken, maxWaitMs, caller.client, true);
}

/** Airtable's own refusal, answered again from the cache. */
export function refusalResponse(r: CachedRefusal): Response {
  return new Response(r.body.slice(), { status: r.status, headers: { 'content-type': r.contentType } });
}

/**
 * The address of the client: the socket's peer on Node; on Workers (no socket) the address
 * Cloudflare puts in `cf-connecting-ip`, which a client cannot set there. On Node that header is
 * ignored: anyone could send it.
 */
export function clientAddressOf(req: Request, env: unknown): string | undefined {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: unknown } } } | undefined)?.incoming;
  if (incoming) {
    const a = incoming.socket?.remoteAddress;
    return typeof a === 'string' ? a : undefined;
  }
  return req.headers.get('cf-connecting-ip') ?? undefined;
}

/** The path segment after the base id (the table, `tables`, `webhooks`), decoded. */
function segmentAfter(path: string, baseId: string): string {
  const parts = path.split('/');
  const i = parts.indexOf(baseId);
  const seg = i >= 0 ? (parts[i + 1] ?? '') : '';
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}
