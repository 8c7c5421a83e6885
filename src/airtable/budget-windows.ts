import type { Now } from '../lifecycle/clock.ts';
import type { BudgetAuthority, BudgetRules, ClaimAnswer, ClaimItem } from './budget-types.ts';

/**
 * The budget's rules in process: the authority of a budget without Postgres, and the fallback of
 * one whose Postgres is away. `airmirror.budget_claim` (src/db/migrations/020_budget.ts) applies
 * the very same rules to rows; test/airtable/budget-rules.test.ts holds the two to the same
 * answers.
 *
 * Per key (a base, a token) the start times of the last window, sorted. Why a sliding window of
 * start times and not a refilling bucket: a bucket of 5 that refills at 5/s lets 5 go at t=0
 * and a 6th at t=0.2 s, i.e. 6 in one second; Airtable counts per second, so the next start is
 * one window after the `limit`-th latest. A new start is never earlier than the key's latest
 * (grants may lie ahead, up to a horizon), which keeps the times sorted and that check exact.
 *
 * Priorities: a normal (background) request leaves `headroom` slots free while high-priority
 * (proxy) demand was seen in the last `highRecentMs`, so an app's request rarely waits behind
 * the syncer; once normal demand has waited `normalGraceMs`, high requests leave it those slots
 * instead, so a flood of proxy traffic cannot starve background work either.
 */
export interface BudgetWindows extends BudgetAuthority {
  claim(items: ClaimItem[], marginMs?: number): ClaimAnswer[];
  /** Records a start granted elsewhere (by Postgres), so a later fallback counts it. */
  record(item: Pick<ClaimItem, 'baseId' | 'tokenKey'>, at: number): void;
  /** Until when the base is penalized (0: it is not). */
  blockedUntil(baseId: string): number;
  /** Keys held (bases and tokens); idle ones are pruned as more are added. */
  size(): number;
}

interface KeyState {
  starts: number[];
  blockedUntil: number;
  highAt: number;
  normalSeenAt: number;
  normalWaitAt: number | null;
  /** The largest lag margin reported lately, and when. */
  margin: number;
  marginAt: number;
}

/** Idle keys are dropped once there are more than this many (and again at each doubling). */
const PRUNE_AT = 256;

export function createBudgetWindows(rules: BudgetRules, now: Now): BudgetWindows {
  const keys = new Map<string, KeyState>();
  let pruneAt = PRUNE_AT;
  const idleAfter = Math.max(rules.windowMs, rules.highRecentMs, 2 * rules.windowMs);

  const stateOf = (key: string): KeyState => {
    let s = keys.get(key);
    if (!s) {
      if (keys.size >= pruneAt) prune(now());
      s = {
        starts: [],
        blockedUntil: 0,
        highAt: -Infinity,
        normalSeenAt: -Infinity,
        normalWaitAt: null,
        margin: 0,
        marginAt: -Infinity,
      };
      keys.set(key, s);
    }
    return s;
  };

  // A key whose window, penalty and demand marks have all expired holds nothing worth keeping.
  const prune = (t: number) => {
    for (const [key, s] of keys) {
      const last = s.starts.length > 0 ? s.starts[s.starts.length - 1] : -Infinity;
      if (Math.max(last, s.highAt, s.normalSeenAt) <= t - idleAfter && s.blockedUntil <= t) keys.delete(key);
    }
    pruneAt = Math.max(PRUNE_AT, 2 * keys.size);
  };

  const push = (starts: number[], t: number, limit: number) => {
    starts.push(t);
    if (starts.length > limit) starts.splice(0, starts.length - limit);
  };

  /** Adds a start at its place (one granted elsewhere may be older than the latest here). */
  const insert = (starts: number[], t: number, limit: number) => {
    let i = starts.length;
    while (i > 0 && starts[i - 1] > t) i--;
    starts.splice(i, 0, t);
    if (starts.length > limit) starts.splice(0, starts.length - limit);
  };

  /**
   * The earliest start ≥ t, not before the latest start (plus `gap`), that keeps at most `limit`
   * starts in any window.
   */
  const earliest = (starts: number[], limit: number, gap: number, win: number, t: number): number => {
    const c = starts.length;
    if (c > 0) t = Math.max(t, starts[c - 1] + gap);
    if (c >= limit) t = Math.max(t, starts[c - limit] + win);
    return t;
  };

  return {
    claim(items, marginMs = 0) {
      const t0 = now();
      const stops = new Map<KeyState, { high: boolean; normal: boolean; retry: number; win: number }>();
      return items.map((item): ClaimAnswer => {
        const b = stateOf(`b:${item.baseId}`);
        let stop = stops.get(b);
        if (!stop) {
          // The window of this base: Airtable's second, the margin, and the largest lag margin a
          // process reported for it in the last minute (a late departure of any of them counts).
          if (b.marginAt < t0 - 60_000 || marginMs >= b.margin) {
            b.margin = marginMs;
            b.marginAt = t0;
          }
          stops.set(b, (stop = { high: false, normal: false, retry: 0, win: rules.windowMs + b.margin }));
        }
        if (item.high) b.highAt = t0;
        else b.normalSeenAt = t0;
        if (b.blockedUntil > t0) return { delay: null, retry: b.blockedUntil - t0, reason: 'penalty' };
        if (item.high ? stop.high : stop.normal) {
          if (!item.high) b.normalWaitAt ??= t0;
          return { delay: null, retry: stop.retry, reason: 'base' };
        }
        const starved =
          b.normalWaitAt !== null &&
          t0 - b.normalWaitAt >= rules.normalGraceMs &&
          t0 - b.normalSeenAt <= 2 * rules.windowMs;
        const highRecent = t0 - b.highAt <= rules.highRecentMs;
        const keep = item.high ? (starved ? rules.headroom : 0) : highRecent && !starved ? rules.headroom : 0;
        let t = earliest(b.starts, Math.max(1, rules.perSecond - keep), rules.baseGapMs, stop.win, t0);
        let reason: 'base' | 'token' = 'base';
        const tk = item.tokenKey === undefined ? undefined : stateOf(`t:${item.tokenKey}`);
        if (tk) {
          const tt = earliest(tk.starts, rules.perTokenPerSecond, rules.tokenGapMs, stop.win, t);
          if (tt > t) {
            t = tt;
            reason = 'token';
          }
        }
        // While background work starves, the proxy books nothing ahead: a slot booked ahead would
        // come before the one kept free for background work, which can only take a slot that is due.
        const horizon = !item.high ? rules.normalHorizonMs : starved ? 0 : rules.highHorizonMs;
        if (t - t0 > horizon) {
          const retry = Math.max(1, t - t0 - horizon);
          if (!item.high) b.normalWaitAt ??= t0;
          if (reason === 'base') {
            if (item.high) stop.high = true;
            else stop.normal = true;
            stop.retry = retry;
          }
          return { delay: null, retry, reason };
        }
        push(b.starts, t, rules.perSecond);
        if (!item.high) b.normalWaitAt = null;
        if (tk) push(tk.starts, t, rules.perTokenPerSecond);
        return { delay: t - t0 };
      });
    },

    penalize(baseId, ms) {
      const b = stateOf(`b:${baseId}`);
      b.blockedUntil = Math.max(b.blockedUntil, now() + ms);
    },

    record(item, at) {
      insert(stateOf(`b:${item.baseId}`).starts, at, rules.perSecond);
      if (item.tokenKey !== undefined)
        insert(stateOf(`t:${item.tokenKey}`).starts, at, rules.perTokenPerSecond);
    },

    blockedUntil: (baseId) => keys.get(`b:${baseId}`)?.blockedUntil ?? 0,
    size: () => keys.size,
  };
}
