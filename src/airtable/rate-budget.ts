import { abortReason, systemNow, systemSleep, type Now, type Sleep } from './clock.ts';

/**
 * The per-base request budget shared by every component of the process (DESIGN invariant 6):
 * at most `perSecond` requests start per base in any window of one second, and after Airtable
 * answers 429 RATE_LIMIT_REACHED nobody sends to that base for `penaltyMs` (reference §2.1:
 * "subsequent requests fail for 30 seconds").
 *
 * Why a sliding window of send times and not a refilling bucket: a bucket of 5 that refills at
 * 5/s lets 5 go at t=0 and a 6th at t=0.2 s, i.e. 6 in one second; Airtable counts per second, so
 * the budget remembers the last `perSecond` start times and lets the next one go one window after
 * the oldest of them.
 *
 * Waiters are served 'high' before 'normal' (proxy writes ahead of the syncer's pages), first come
 * first served within a priority.
 */

export type BudgetPriority = 'high' | 'normal';

export interface AcquireOptions {
  priority?: BudgetPriority;
  signal?: AbortSignal;
}

export interface RateBudgetStats {
  /** Requests let through. */
  sent: number;
  /** Requests that had to queue (the window was full, the base was penalized, or others waited). */
  waits: number;
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

export interface RateBudgetOptions {
  perSecond?: number;
  penaltyMs?: number;
  /**
   * Window length. Airtable allows 5 requests per second (reference §2.1) counted on *arrival*;
   * we count on departure, and network jitter can squeeze six departures one second apart into
   * one arrival second — each such 429 costs a 30 s penalty. The default keeps a 4% margin
   * (1040 ms: still 96% of the 500 records/s bound).
   */
  windowMs?: number;
  now?: Now;
  sleep?: Sleep;
}

interface Waiter {
  priority: BudgetPriority;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface BaseState {
  starts: number[];
  queue: Waiter[];
  blockedUntil: number;
  pumping: boolean;
  /** Cuts the pump's sleep short when every waiter has gone (aborted). */
  wake: AbortController | null;
  sent: number;
  waits: number;
  rateLimited: number;
  penalties: number;
}

export function createRateBudget(opts: RateBudgetOptions = {}): RateBudget {
  const perSecond = opts.perSecond ?? 5;
  const penaltyMs = opts.penaltyMs ?? 30_000;
  const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
  const now = opts.now ?? systemNow;
  const sleep = opts.sleep ?? systemSleep;
  if (!(perSecond >= 1)) throw new RangeError('perSecond must be at least 1');
  const bases = new Map<string, BaseState>();

  const stateOf = (baseId: string): BaseState => {
    let s = bases.get(baseId);
    if (!s) {
      s = {
        starts: [],
        queue: [],
        blockedUntil: 0,
        pumping: false,
        wake: null,
        sent: 0,
        waits: 0,
        rateLimited: 0,
        penalties: 0,
      };
      bases.set(baseId, s);
    }
    return s;
  };

  /** Milliseconds until the next request to this base may start (0 = now). */
  const delayOf = (s: BaseState, t: number): number => {
    while (s.starts.length > 0 && s.starts[0] <= t - windowMs) s.starts.shift();
    const windowWait =
      s.starts.length >= perSecond ? s.starts[s.starts.length - perSecond] + windowMs - t : 0;
    return Math.max(0, s.blockedUntil - t, windowWait);
  };

  const grant = (s: BaseState, t: number) => {
    s.starts.push(t);
    s.sent++;
  };

  // One pump per base serves its queue in order; it sleeps only as long as the head must wait.
  const pump = async (s: BaseState) => {
    s.pumping = true;
    try {
      while (s.queue.length > 0) {
        const t = now();
        const delay = delayOf(s, t);
        if (delay > 0) {
          s.wake = new AbortController();
          await sleep(delay, s.wake.signal).catch(() => undefined);
          s.wake = null;
          continue;
        }
        const waiter = s.queue.shift()!;
        grant(s, t);
        waiter.resolve();
      }
    } finally {
      s.pumping = false;
    }
  };

  return {
    acquire(baseId, { priority = 'normal', signal } = {}) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      const s = stateOf(baseId);
      const t = now();
      if (s.queue.length === 0 && delayOf(s, t) === 0) {
        grant(s, t);
        return Promise.resolve();
      }
      s.waits++;
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = s.queue.indexOf(waiter);
          if (i >= 0) s.queue.splice(i, 1);
          if (s.queue.length === 0) s.wake?.abort();
          reject(abortReason(signal!));
        };
        const waiter: Waiter = {
          priority,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
          reject,
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        // High priority goes behind other high waiters but ahead of every normal one.
        const at = priority === 'high' ? s.queue.findIndex((w) => w.priority !== 'high') : -1;
        if (at >= 0) s.queue.splice(at, 0, waiter);
        else s.queue.push(waiter);
        if (!s.pumping) void pump(s);
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
