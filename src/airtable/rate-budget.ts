import { systemNow, systemSleep, type Now, type Sleep } from '../lifecycle/clock.ts';
import { createBudgetFront } from './budget-front.ts';
import type { BudgetRules, RateBudget } from './budget-types.ts';
import { createBudgetWindows } from './budget-windows.ts';

/**
 * The request budget of one process (docs/DESIGN.md invariant 6), after the two limits of
 * docs/airtable-reference.md §2.1: at most `perSecond` requests start per base, and at most
 * `perTokenPerSecond` per token, in any window of one second; after Airtable answers 429
 * RATE_LIMIT_REACHED nobody sends to that base for `penaltyMs` ("subsequent requests fail for 30
 * seconds").
 *
 * The front (budget-front.ts: waiters, 'high' before 'normal', round robin between bases and
 * between clients) over the rules in process (budget-windows.ts). `createSharedBudget`
 * (shared-budget.ts) puts the same front over Postgres, so every process and Workers proxy
 * shares one budget.
 */
export type { AcquireOptions, BudgetPriority, RateBudget, RateBudgetStats } from './budget-types.ts';
export { BudgetRefusedError } from './budget-types.ts';
export { tokenKeyOf } from './token-key.ts';

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
  /** Stats are kept for at most this many bases (see RateBudget.allStats). Default 1,000. */
  maxTrackedBases?: number;
  /** High-priority waiters one client may queue for one base. Default 6 × perSecond, at least 30. */
  maxQueuedPerClient?: number;
  now?: Now;
  sleep?: Sleep;
}

/** While the proxy was active this recently, background work leaves it a slot (see BudgetRules). */
export const HIGH_RECENT_MS = 3_000;
/** Background work held back this long gets a slot even under a flood of proxy traffic. */
export const NORMAL_GRACE_MS = 1_000;

/** The rules of a budget with these options; horizons as given (0: only now). */
export function budgetRules(
  opts: RateBudgetOptions,
  shape: Pick<BudgetRules, 'highHorizonMs' | 'normalHorizonMs' | 'baseGapMs' | 'tokenGapMs'> = {
    highHorizonMs: 0,
    normalHorizonMs: 0,
    baseGapMs: 0,
    tokenGapMs: 0,
  },
): BudgetRules {
  const perSecond = opts.perSecond ?? 5;
  const perTokenPerSecond = opts.perTokenPerSecond ?? Math.max(AIRTABLE_PER_TOKEN_PER_SECOND, 10 * perSecond);
  if (!(perSecond >= 1)) throw new RangeError('perSecond must be at least 1');
  if (!(perTokenPerSecond >= 1)) throw new RangeError('perTokenPerSecond must be at least 1');
  return {
    perSecond,
    perTokenPerSecond,
    windowMs: opts.windowMs ?? DEFAULT_WINDOW_MS,
    ...shape,
    headroom: perSecond > 1 ? 1 : 0,
    highRecentMs: HIGH_RECENT_MS,
    normalGraceMs: NORMAL_GRACE_MS,
    penaltyMs: opts.penaltyMs ?? 30_000,
  };
}

export function createRateBudget(opts: RateBudgetOptions = {}): RateBudget {
  const rules = budgetRules(opts);
  const now = opts.now ?? systemNow;
  return createBudgetFront({
    authority: createBudgetWindows(rules, now),
    perSecond: rules.perSecond,
    penaltyMs: rules.penaltyMs,
    now,
    sleep: opts.sleep ?? systemSleep,
    maxTrackedBases: opts.maxTrackedBases,
    maxQueuedPerClient: opts.maxQueuedPerClient,
  });
}
