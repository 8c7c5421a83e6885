/**
 * The request budget's vocabulary, shared by its front (budget-front.ts: waiters, priorities,
 * fairness) and its authorities (budget-windows.ts in process, shared-budget.ts through
 * Postgres). docs/airtable-reference.md §2.1: 5 requests/s per base, 50 per token, a 30-s
 * penalty after a 429.
 */

export type BudgetPriority = 'high' | 'normal';

export interface AcquireOptions {
  priority?: BudgetPriority;
  signal?: AbortSignal;
  /** The request's bearer token, for the per-token window; absent = only the base's limit applies. */
  token?: string;
  /**
   * Who is asking, for fairness between callers of one base: waiters of the same priority are
   * served round robin by client, and one client may not queue more than `maxQueuedPerClient`.
   * Default: the token's key (one app, one client). Never a secret: the proxy passes a token's
   * key or a client address.
   */
  client?: string;
  /**
   * Reject with a BudgetRefusedError('penalty') instead of waiting while the base serves a 429
   * penalty (the proxy answers Airtable's own 429 at once rather than holding the app 30 s).
   */
  failWhenPenalized?: boolean;
  /**
   * The caller will call `answered()` of the departure `acquire` resolves with, when Airtable's
   * answer (or the failure) comes: the pacer then knows how long the request may have queued
   * before Airtable counted it (departure-pacer.ts). Without, it counts as answered at once.
   */
  reportsAnswer?: boolean;
}

/** A request let through, for the caller to report its answer (AcquireOptions.reportsAnswer). */
export interface Departure {
  answered(): void;
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

export const ZERO_STATS: RateBudgetStats = Object.freeze({
  sent: 0,
  waits: 0,
  tokenWaits: 0,
  rateLimited: 0,
  penalties: 0,
  queued: 0,
  blockedUntil: null,
});

export interface RateBudget {
  /** Resolves when a request to `baseId` may start; rejects with the signal's reason on abort. */
  acquire(baseId: string, opts?: AcquireOptions): Promise<Departure | undefined>;
  /** Airtable answered 429 RATE_LIMIT_REACHED for this base: block it for the penalty period. */
  penalize(baseId: string): void;
  /** Stats of one base (zeros for a base the budget does not know; asking creates nothing). */
  stats(baseId: string): RateBudgetStats;
  /**
   * Stats of the tracked bases, for metrics: those with background work and those `track`ed,
   * at most `maxTrackedBases` of them (the most recently used). Requests to other base ids are
   * metered all the same, but keep no state once they are done.
   */
  allStats(): Record<string, RateBudgetStats>;
  /** Airtable answered a request to this base with the token accepted: keep its stats. */
  track(baseId: string): void;
  /** Bases the budget holds state for right now (bounded whatever base ids arrive). */
  heldBases(): number;
}

/** A refusal without waiting: the base is penalized, or the client already queues its share. */
export class BudgetRefusedError extends Error {
  constructor(readonly reason: 'penalty' | 'queue-full') {
    super(
      reason === 'penalty'
        ? 'the base is serving a 429 penalty'
        : 'too many requests of this client are waiting for this base',
    );
    this.name = 'BudgetRefusedError';
  }
}

/** One request asking for a slot, as the front hands it to the authority. */
export interface ClaimItem {
  baseId: string;
  /** Key of the token's window (never the token); absent = no per-token window. */
  tokenKey?: string;
  high: boolean;
  /** What the call is counted under (docs: issue 17): a token key or '*', a base id or '*'. */
  countToken: string;
  countBase: string;
}

export type ClaimReason = 'base' | 'token' | 'penalty';

/**
 * The authority's answer for one item: `delay` ms until it may start (0 = now), or null and
 * `retry` ms until asking again is worth it, with the `reason` it was held back.
 */
export interface ClaimAnswer {
  delay: number | null;
  retry?: number;
  reason?: ClaimReason;
}

/** The rules both authorities apply (Postgres' budget_claim and budget-windows.ts). */
export interface BudgetRules {
  perSecond: number;
  perTokenPerSecond: number;
  windowMs: number;
  /** How far ahead a high-priority request may be given a start time (0 = only now). */
  highHorizonMs: number;
  /** The same for normal priority: kept small, so a later proxy request is not queued behind. */
  normalHorizonMs: number;
  /**
   * Slots kept free for the other class: for the proxy while it was active in the last
   * `highRecentMs`, for background work once it has waited `normalGraceMs` (so a flood of
   * proxy requests cannot starve the syncer).
   */
  headroom: number;
  highRecentMs: number;
  normalGraceMs: number;
  penaltyMs: number;
  /**
   * Least time between two starts of one base (of one token: `tokenGapMs`). Requests granted
   * together leave one after another anyway, and on cold connections or a busy event loop the
   * last of a burst can reach Airtable long after the first: counted as one burst, its late
   * arrivals would share Airtable's second with the next window's first requests (a 429 and 30 s).
   * Spacing the starts keeps each grant's time close to its departure. 0: no spacing.
   */
  baseGapMs: number;
  tokenGapMs: number;
}

/** Grants slots. In process it answers at once; through Postgres it takes a round trip. */
export interface BudgetAuthority {
  /**
   * Answers in the order of `items`. Items of a base are considered in the order given.
   * `marginMs`: how late this process may start a granted request (its event loop's recent lag);
   * the base's window is lengthened by the largest margin reported for it lately.
   */
  claim(items: ClaimItem[], marginMs?: number): ClaimAnswer[] | Promise<ClaimAnswer[]>;
  /** A 429 RATE_LIMIT_REACHED for this base: nobody starts a request to it for `ms`. */
  penalize(baseId: string, ms: number): void;
}
