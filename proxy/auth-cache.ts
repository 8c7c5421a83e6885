import { LRUCache } from 'lru-cache';

/**
 * Airtable's recent refusals of a token, so the shared request budget is spent only on requests
 * that can succeed (issue 14, "budget theft"): after a 401 every request with that token, and
 * after a 403 every request of the same kind (read or write) to the same table of the same base
 * with that token, is answered here, exactly as Airtable answered (status, body), for a short
 * while, without calling Airtable or taking a budget slot. A 403 is kept narrow: Airtable answers
 * it for an unknown table or a missing scope too (docs/airtable-reference.md §2.5), and one typo
 * must not lock an app out of its base. A request without a token is keyed as such, so its 401
 * is answered here too.
 *
 * It also knows which tokens Airtable has lately accepted: the proxy fair-queues requests with
 * such a token by the token, and the rest by the client's address, so a flood of made-up tokens
 * from one place shares one client's turn (budget-front.ts).
 *
 * Keys are token keys (a truncated sha256), never tokens (docs/DESIGN.md invariant 8). Bounded:
 * LRU caches with a TTL.
 */
export interface AuthCacheOptions {
  unauthorizedTtlMs?: number;
  forbiddenTtlMs?: number;
  /** How long a token counts as accepted after Airtable last answered it 2xx. */
  verifiedTtlMs?: number;
  maxEntries?: number;
  /** The clock of the TTLs (tests pass a virtual one). */
  now?: () => number;
}

export interface CachedRefusal {
  status: number;
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
}

export interface AuthRequest {
  /** '' when the request carries no bearer token. */
  tokenKey: string;
  baseId: string | undefined;
  /** The table id or name the path names, if any. */
  table: string | undefined;
  write: boolean;
}

export interface AuthCache {
  refusal(r: AuthRequest): CachedRefusal | undefined;
  /** Airtable's answer to `r`. `body` is needed for a 401 or 403 only. */
  observe(r: AuthRequest, status: number, body?: Uint8Array, contentType?: string | null): void;
  verified(tokenKey: string): boolean;
}

export const DEFAULT_UNAUTHORIZED_TTL_MS = 30_000;
export const DEFAULT_FORBIDDEN_TTL_MS = 10_000;
/** A refusal body bigger than this is not Airtable's short error: not kept. */
const MAX_BODY = 4096;

export function createAuthCache(opts: AuthCacheOptions = {}): AuthCache {
  const max = opts.maxEntries ?? 10_000;
  const perf = opts.now ? { now: opts.now } : undefined;
  const unauthorized = new LRUCache<string, CachedRefusal>({
    max,
    ttl: opts.unauthorizedTtlMs ?? DEFAULT_UNAUTHORIZED_TTL_MS,
    perf,
  });
  const forbidden = new LRUCache<string, CachedRefusal>({
    max,
    ttl: opts.forbiddenTtlMs ?? DEFAULT_FORBIDDEN_TTL_MS,
    perf,
  });
  const accepted = new LRUCache<string, true>({ max, ttl: opts.verifiedTtlMs ?? 60 * 60_000, perf });
  const forbiddenKey = (r: AuthRequest) => JSON.stringify([r.tokenKey, r.baseId, r.table, r.write]);

  return {
    refusal(r) {
      return unauthorized.get(r.tokenKey) ?? (r.baseId ? forbidden.get(forbiddenKey(r)) : undefined);
    },
    observe(r, status, body, contentType) {
      if (status >= 200 && status < 300) {
        if (r.tokenKey) accepted.set(r.tokenKey, true);
        if (r.baseId) forbidden.delete(forbiddenKey(r));
        return;
      }
      if ((status !== 401 && status !== 403) || !body || body.byteLength > MAX_BODY) return;
      const refusal = {
        status,
        body: new Uint8Array(body),
        contentType: contentType ?? 'application/json; charset=utf-8',
      };
      if (status === 401) {
        unauthorized.set(r.tokenKey, refusal);
        accepted.delete(r.tokenKey);
      } else if (r.baseId) {
        forbidden.set(forbiddenKey(r), refusal);
      }
    },
    verified: (tokenKey) => tokenKey !== '' && accepted.has(tokenKey),
  };
}
