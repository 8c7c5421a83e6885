import type { MiddlewareHandler } from 'hono';
import type { EmulatorClock } from '../clock.ts';
import { airtableError, MESSAGES } from '../errors.ts';

/**
 * docs/airtable-reference.md §2.3/§2.5: no or garbled header → AUTHENTICATION_REQUIRED; unknown token →
 * UNAUTHORIZED.
 */
export function bearerAuth(tokens: () => ReadonlySet<string>): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw airtableError(401, 'AUTHENTICATION_REQUIRED', 'Authentication required');
    if (!tokens().has(m[1])) throw airtableError(401, 'UNAUTHORIZED', 'Invalid authentication token');
    await next();
  };
}

/**
 * docs/airtable-reference.md §1.1/§2.2: URLs of 16,000 characters or more are rejected (status and type
 * unconfirmed).
 */
export const MAX_URL_LENGTH = 16_000;
const ORIGIN = 'https://api.airtable.com';

export function urlLimit(): MiddlewareHandler {
  return async (c, next) => {
    const u = new URL(c.req.url);
    // Measured as if served from api.airtable.com, so in-process and HTTP tests agree.
    if (ORIGIN.length + u.pathname.length + u.search.length >= MAX_URL_LENGTH) {
      throw airtableError(
        414,
        'URL_TOO_LONG',
        `The request URL must be shorter than ${MAX_URL_LENGTH} characters`,
      );
    }
    await next();
  };
}

/**
 * Per-base rate limit (docs/airtable-reference.md §2.1): `rps` requests per second per base on the emulator
 * clock; the request that exceeds it and every request for the next `penaltyMs` get 429.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { hits: number[]; penaltyUntil: number }>();
  constructor(
    private readonly clock: EmulatorClock,
    public rps: number | false,
    public penaltyMs: number,
  ) {}

  set(rps: number | false, penaltyMs?: number): void {
    this.rps = rps;
    if (penaltyMs !== undefined) this.penaltyMs = penaltyMs;
    this.windows.clear();
  }

  /** Counts one request for `baseId`; throws the 429 when over the limit. */
  hit(baseId: string): void {
    if (this.rps === false) return;
    const now = this.clock.now();
    let w = this.windows.get(baseId);
    if (!w) this.windows.set(baseId, (w = { hits: [], penaltyUntil: 0 }));
    if (now < w.penaltyUntil) throw rateLimited();
    while (w.hits.length && w.hits[0] <= now - 1000) w.hits.shift();
    if (w.hits.length >= this.rps) {
      w.penaltyUntil = now + this.penaltyMs;
      w.hits = [];
      throw rateLimited();
    }
    w.hits.push(now);
  }

  middleware(baseIdOf: (path: string) => string | undefined): MiddlewareHandler {
    return async (c, next) => {
      const baseId = baseIdOf(new URL(c.req.url).pathname);
      if (baseId) this.hit(baseId);
      await next();
    };
  }
}

const rateLimited = () => airtableError(429, 'RATE_LIMIT_REACHED', MESSAGES.rateLimit);

/**
 * The base a per-base endpoint addresses: records, base schema, webhooks (docs/airtable-reference.md §2.1).
 */
export function perBaseId(path: string): string | undefined {
  const s = path.split('/');
  // ['', 'v0', ...]
  if (s[1] !== 'v0') return undefined;
  if (s[2] === 'meta') return s[3] === 'bases' && s[5] ? s[4] : undefined;
  if (s[2] === 'bases') return s[3];
  return s[2] && s[3] ? s[2] : undefined;
}
