import { createHash } from 'node:crypto';
import { abortReason, systemNow, systemSleep, type Now, type Sleep } from '../lifecycle/clock.ts';

/**
 * The request budget shared by every component of the process (docs/DESIGN.md invariant 6), after the
 * two limits of docs/airtable-reference.md §2.1: at most `perSecond` requests start per base, and at most
 * `perTokenPerSecond` per token, in any window of one second; after Airtable answers 429
 * RATE_LIMIT_REACHED nobody sends to that base for `penaltyMs` ("subsequent requests fail for 30
 * seconds").
 *
 * Why a sliding window of send times and not a refilling bucket: a bucket of 5 that refills at
 * 5/s lets 5 go at t=0 and a 6th at t=0.2 s, i.e. 6 in one second; Airtable counts per second, so
 * the budget remembers the last `perSecond` start times and lets the next one go one window after
 * the oldest of them. The per-token window works the same way.
 *
 * Waiters of a base are served 'high' before 'normal' (proxy traffic ahead of the syncer's pages),
 * first come first served within a priority. One pump serves every base: checking both windows and
 * granting happen in one synchronous step, so bases sharing a token can never over-grant its window
 * between them, and a base whose head waits for its token never holds up a base on another token.
 * When several bases' heads compete for one token slot, the higher priority wins, then the base
 * served longest ago: round robin, so one busy base cannot hold its token's other bases back.
 *
 * Tokens are secrets (invariant 8): the budget keys them by a truncated sha256 and never keeps or
 * reports the token itself.
 */

export type BudgetPriority = 'high' | 'normal';

export interface AcquireOptions {
  priority?: BudgetPriority;
  signal?: AbortSignal;
  /** The request's bearer token, for the per-token window; absent = only the base's limit applies. */
  token?: string;
}

export interface RateBudgetStats {
  /** Requests let through. */
  sent: number;
  /** Requests that had to queue (the window was full, the base was penalized, or others waited). */
  waits: number;
  /** Of those, requests held back at least once by their token's window while the base had room. */
  tokenWaits: number;
  /** 429 RATE_LIMIT_REACHED answers reported through `penalize`. */
  rateLimited: number;
  /**
   * Penalty windows started: 429s of requests in flight together fall into one window (each 429
   * restarts the 30 s from its arrival), so this is ≤ rateLimited.
   */
  penalties: number;
  /** Waiters queued right now. */
  queued: number;
  /** Until when (epoch ms of the injected clock) the base is penalized; null when it is not. */
  blockedUntil: number | null;
}

export interface RateBudget {
  /** Resolves when a request to `baseId` may start; rejects with the signal's reason on abort. */
  acquire(baseId: string, opts?: AcquireOptions): Promise<void>;
  /** Airtable answered 429 RATE_LIMIT_REACHED for this base: block it for the penalty period. */
  penalize(baseId: string): void;
  stats(baseId: string): RateBudgetStats;
  /** Stats of every base seen so far, for metrics. */
  allStats(): Record<string, RateBudgetStats>;
}

/** See RateBudgetOptions.windowMs. */
export const DEFAULT_WINDOW_MS = 1040;

/** docs/airtable-reference.md §2.1: 50 requests/s per token owner, across all their bases. */
export const AIRTABLE_PER_TOKEN_PER_SECOND = 50;

export interface RateBudgetOptions {
  perSecond?: number;
  /**
   * Requests per window per token. Default 50 (docs/airtable-reference.md §2.1). When `perSecond` is raised above
   * Airtable's 5 (an emulator, a test), the default becomes 10 × perSecond — the reference's
   * ratio — so a raised per-base limit is not silently capped by the per-token one.
   */
  perTokenPerSecond?: number;
  penaltyMs?: number;
  /**
   * Window length, for both limits. Airtable allows 5 requests per second (docs/airtable-reference.md §2.1)
   * counted on *arrival*; we count on departure, and network jitter can squeeze six departures
   * one second apart into one arrival second — each such 429 costs a 30 s penalty. The default
   * keeps a 4% margin (1040 ms: still 96% of the 500 records/s bound).
   */
  windowMs?: number;
  now?: Now;
  sleep?: Sleep;
}

interface Waiter {
  priority: BudgetPriority;
  tokenKey: string | undefined;
  /** Already counted in tokenWaits. */
  heldByToken: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface BaseState {
  starts: number[];
  queue: Waiter[];
  blockedUntil: number;
  sent: number;
  waits: number;
  tokenWaits: number;
  rateLimited: number;
  penalties: number;
  /** When this base last got a slot (a grant counter): the round robin between bases. */
  lastServed: number;
}

/** Idle token windows are dropped once there are more than this many (bounded memory). */
const TOKEN_PRUNE_AT = 256;

/** The key a token is known by: never the token itself. */
function tokenKeyOf(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

export function createRateBudget(opts: RateBudgetOptions = {}): RateBudget {
  const perSecond = opts.perSecond ?? 5;
  const perToken = opts.perTokenPerSecond ?? Math.max(AIRTABLE_PER_TOKEN_PER_SECOND, 10 * perSecond);
  const penaltyMs = opts.penaltyMs ?? 30_000;
  const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
  const now = opts.now ?? systemNow;
  const sleep = opts.sleep ?? systemSleep;
  if (!(perSecond >= 1)) throw new RangeError('perSecond must be at least 1');
  if (!(perToken >= 1)) throw new RangeError('perTokenPerSecond must be at least 1');
  const bases = new Map<string, BaseState>();
  // A process sends most requests with one token: hashing it once, not per request (a sha-256
  // object per request showed in the sync benchmark). The token itself is already held by the
  // client that sends it; here it only sits next to its key.
  let lastToken: string | undefined;
  let lastKey = '';
  const keyOf = (token: string): string => {
    if (token !== lastToken) {
      lastKey = tokenKeyOf(token);
      lastToken = token;
    }
    return lastKey;
  };
  /** Start times per token key: the per-token window. */
  const tokens = new Map<string, number[]>();
  /** Bases with waiters: the pump's work list. */
  const busy = new Set<BaseState>();
  let grants = 0;
  let pumping = false;
  /** Cuts the pump's sleep short when the waiters' heads changed (a new head, an abort). */
  let wake: AbortController | null = null;

  const stateOf = (baseId: string): BaseState => {
    let s = bases.get(baseId);
    if (!s) {
      s = {
        starts: [],
        queue: [],
        blockedUntil: 0,
        sent: 0,
        waits: 0,
        tokenWaits: 0,
        rateLimited: 0,
        penalties: 0,
        lastServed: 0,
      };
      bases.set(baseId, s);
    }
    return s;
  };

  const startsOf = (key: string): number[] => {
    let starts = tokens.get(key);
    if (!starts) {
      if (tokens.size >= TOKEN_PRUNE_AT) pruneTokens(now());
      starts = [];
      tokens.set(key, starts);
    }
    return starts;
  };

  // A window whose starts have all expired holds nothing: dropping it loses no information.
  const pruneTokens = (t: number) => {
    for (const [key, starts] of tokens) {
      if (starts.length === 0 || starts[starts.length - 1] <= t - windowMs) tokens.delete(key);
    }
  };

  /** Milliseconds until a window of start times admits one more (0 = now). */
  const windowDelay = (starts: number[], limit: number, t: number): number => {
    while (starts.length > 0 && starts[0] <= t - windowMs) starts.shift();
    return starts.length >= limit ? starts[starts.length - limit] + windowMs - t : 0;
  };

  const baseDelay = (s: BaseState, t: number): number =>
    Math.max(0, s.blockedUntil - t, windowDelay(s.starts, perSecond, t));

  const tokenDelay = (key: string | undefined, t: number): number =>
    key === undefined ? 0 : windowDelay(startsOf(key), perToken, t);

  const grant = (s: BaseState, key: string | undefined, t: number) => {
    s.starts.push(t);
    s.sent++;
    s.lastServed = ++grants;
    if (key !== undefined) startsOf(key).push(t);
  };

  /**
   * Grants every head of a base queue that may start at `t` (best first, re-checking after each
   * grant: one token slot may be wanted by several bases), and returns how long until the next
   * head could start (Infinity: nobody waits). Synchronous, so no grant can race another.
   */
  const serve = (t: number): number => {
    for (;;) {
      let best: BaseState | undefined;
      for (const s of busy) {
        const w = s.queue[0];
        if (baseDelay(s, t) > 0 || tokenDelay(w.tokenKey, t) > 0) continue;
        if (!best || ahead(s, best)) best = s;
      }
      if (!best) break;
      const w = best.queue.shift()!;
      if (best.queue.length === 0) busy.delete(best);
      grant(best, w.tokenKey, t);
      w.resolve();
    }
    let next = Infinity;
    for (const s of busy) {
      const w = s.queue[0];
      const forBase = baseDelay(s, t);
      const forToken = tokenDelay(w.tokenKey, t);
      if (forBase === 0 && forToken > 0 && !w.heldByToken) {
        w.heldByToken = true;
        s.tokenWaits++;
      }
      next = Math.min(next, Math.max(forBase, forToken));
    }
    return next;
  };

  // The pump sleeps only as long as the earliest head must wait, or until woken.
  const pump = async () => {
    pumping = true;
    try {
      for (;;) {
        const delay = serve(now());
        if (delay === Infinity) return;
        wake = new AbortController();
        await sleep(delay, wake.signal).catch(() => undefined);
        wake = null;
      }
    } finally {
      pumping = false;
    }
  };

  const nudge = () => {
    if (!pumping) void pump();
    else wake?.abort();
  };

  return {
    acquire(baseId, { priority = 'normal', signal, token } = {}) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      const s = stateOf(baseId);
      const tokenKey = token ? keyOf(token) : undefined;
      const t = now();
      // Waiters due by now go first (the pump's timer may not have fired yet). After that no
      // waiter could use a slot that is free now, so one free in both windows is this caller's.
      const before = grants;
      serve(t);
      if (grants !== before) wake?.abort(); // new heads: the pump's sleep may be too long now
      if (s.queue.length === 0 && baseDelay(s, t) === 0 && tokenDelay(tokenKey, t) === 0) {
        grant(s, tokenKey, t);
        return Promise.resolve();
      }
      s.waits++;
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = s.queue.indexOf(waiter);
          if (i >= 0) {
            s.queue.splice(i, 1);
            if (s.queue.length === 0) busy.delete(s);
            // The head changed (or nobody is left): let the pump look again, or stop its timer.
            if (i === 0) wake?.abort();
          }
          reject(abortReason(signal!));
        };
        const waiter: Waiter = {
          priority,
          tokenKey,
          heldByToken: false,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject,
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        busy.add(s);
        // High priority goes behind other high waiters but ahead of every normal one.
        const at = priority === 'high' ? s.queue.findIndex((w) => w.priority !== 'high') : -1;
        if (at >= 0) s.queue.splice(at, 0, waiter);
        else s.queue.push(waiter);
        if (s.queue[0] === waiter) nudge();
      });
    },

    penalize(baseId) {
      const s = stateOf(baseId);
      s.rateLimited++;
      if (s.blockedUntil <= now()) s.penalties++;
      s.blockedUntil = Math.max(s.blockedUntil, now() + penaltyMs);
    },

    stats(baseId) {
      const s = stateOf(baseId);
      return {
        sent: s.sent,
        waits: s.waits,
        tokenWaits: s.tokenWaits,
        rateLimited: s.rateLimited,
        penalties: s.penalties,
        queued: s.queue.length,
        blockedUntil: s.blockedUntil > now() ? s.blockedUntil : null,
      };
    },

    allStats() {
      return Object.fromEntries([...bases.keys()].map((id) => [id, this.stats(id)]));
    },
  };
}

/** Which of two bases whose heads compete for one token slot goes first. */
function ahead(a: BaseState, b: BaseState): boolean {
  const pa = a.queue[0].priority;
  if (pa !== b.queue[0].priority) return pa === 'high';
  return a.lastServed < b.lastServed;
}
