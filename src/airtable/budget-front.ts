import { abortReason, type Now, type Sleep } from '../lifecycle/clock.ts';
import {
  BudgetRefusedError,
  type BudgetAuthority,
  type ClaimAnswer,
  type ClaimItem,
  type Departure,
  type RateBudget,
  ZERO_STATS,
} from './budget-types.ts';
import type { DeparturePacer } from './departure-pacer.ts';
import { ahead, FairQueue, type Waiter } from './fair-queue.ts';
import { lastTokenKey } from './token-key.ts';

/**
 * The budget's front in a process: it holds the waiters (priorities, per-client fairness,
 * aborts), asks its authority for slots and lets each waiter go when its slot comes. The
 * authority decides: in process (budget-windows.ts), at once; through Postgres
 * (shared-budget.ts), in one round trip for every waiter that is ready, across bases.
 *
 * One pump serves every base. A claim lists the ready waiters in the order a slot should go to
 * them: high before normal, then the base served longest ago (round robin, so when bases compete
 * for one token's slots, one busy base cannot hold the others back), and within a base the
 * client served longest ago. The authority grants in that order, holding back what does not fit.
 *
 * Memory stays bounded whatever base ids arrive: a base keeps state while it has waiters, and
 * afterwards only if it is tracked (background work uses it, or `track` said Airtable accepted a
 * request to it), at most `maxTrackedBases` of them. Tokens are keyed by a truncated sha256 and
 * never kept (docs/DESIGN.md invariant 8).
 */
export interface BudgetFrontOptions {
  authority: BudgetAuthority;
  perSecond: number;
  penaltyMs: number;
  now: Now;
  sleep: Sleep;
  /** Claims in flight at once (an asynchronous authority). Default 2. */
  maxInFlight?: number;
  /** Waiters of one base in one claim. Default 2 × perSecond, at most 20. */
  maxBatch?: number;
  maxTrackedBases?: number;
  /** High-priority waiters one client may queue for one base (more: refused). Default six windows
   * of its rate, ≥ 30 (a lower bound refuses bursts the base has room for while a claim is out). */
  maxQueuedPerClient?: number;
  /** How late this process may start a granted request (see BudgetAuthority.claim). */
  marginMs?: () => number;
  /** Spaces this process's own departures as they really leave (departure-pacer.ts). Default none. */
  pacer?: DeparturePacer;
}

interface FrontWaiter extends Waiter {
  base: BaseState;
  signal: AbortSignal | undefined;
  resolve(d: Departure | undefined): void;
  reportsAnswer: boolean;
  reject(err: unknown): void;
}

interface BaseState {
  id: string;
  queue: FairQueue<FrontWaiter>;
  sent: number;
  waits: number;
  tokenWaits: number;
  rateLimited: number;
  penalties: number;
  blockedUntil: number;
  lastServed: number;
  /** Not worth asking the authority before this time (it said so). */
  retryAt: number;
}

export function createBudgetFront(opts: BudgetFrontOptions): RateBudget {
  const { authority, now, sleep, penaltyMs } = opts;
  const maxInFlight = opts.maxInFlight ?? 2;
  const maxBatch = opts.maxBatch ?? Math.min(20, 2 * opts.perSecond);
  const maxTracked = opts.maxTrackedBases ?? 1000;
  const maxPerClient = opts.maxQueuedPerClient ?? Math.max(30, 6 * opts.perSecond);
  const bases = new Map<string, BaseState>();
  /** Tracked base ids, least recently used first. */
  const tracked = new Map<string, true>();
  /** Bases with waiters. */
  const busy = new Set<BaseState>();
  let grants = 0;
  let claims = 0;
  let pumping = false;
  let again = false;
  let timer: { at: number; ctl: AbortController } | null = null;
  const pacer = opts.pacer;

  const keyOf = lastTokenKey();

  const stateOf = (baseId: string): BaseState => {
    let s = bases.get(baseId);
    if (!s) {
      if (bases.size >= pruneAt) prune();
      s = {
        id: baseId,
        queue: new FairQueue(maxPerClient),
        sent: 0,
        waits: 0,
        tokenWaits: 0,
        rateLimited: 0,
        penalties: 0,
        blockedUntil: 0,
        lastServed: 0,
        retryAt: 0,
      };
      bases.set(baseId, s);
    }
    return s;
  };

  const track = (baseId: string) => {
    tracked.delete(baseId);
    tracked.set(baseId, true);
    if (tracked.size > maxTracked) tracked.delete(tracked.keys().next().value!);
  };

  /**
   * Untracked bases nobody waits for are dropped once there are more bases than the tracked ones
   * and `maxTracked` more (and again at each doubling): a flood of made-up base ids leaves
   * nothing behind, while a base Airtable is about to accept keeps the stats of its first request.
   * A penalty stays with the authority.
   */
  let pruneAt = 2 * maxTracked;
  const prune = () => {
    for (const [id, s] of bases) if (s.queue.size === 0 && !tracked.has(id)) bases.delete(id);
    pruneAt = Math.max(2 * maxTracked, 2 * bases.size);
  };

  const idle = (w: FrontWaiter) => !w.inFlight && !w.done;

  /** The ready waiters of every base, in the order slots should go to them. */
  const collect = (t: number): FrontWaiter[] => {
    const lines: Array<{ s: BaseState; ws: FrontWaiter[]; at: number; sim: number }> = [];
    const ready = (w: FrontWaiter) => idle(w) && w.retryAt <= t;
    for (const s of busy) {
      if (s.retryAt > t) continue;
      const ws = s.queue.next(maxBatch, ready);
      if (ws.length > 0) lines.push({ s, ws, at: 0, sim: s.lastServed });
    }
    const out: FrontWaiter[] = [];
    let sim = grants;
    for (;;) {
      let best: (typeof lines)[number] | undefined;
      for (const l of lines) {
        if (l.at >= l.ws.length) continue;
        if (!best || ahead(l.ws[l.at], l.sim, best.ws[best.at], best.sim)) best = l;
      }
      if (!best) return out;
      out.push(best.ws[best.at++]);
      best.sim = ++sim;
    }
  };

  const itemOf = (w: FrontWaiter): ClaimItem => ({
    baseId: w.base.id,
    tokenKey: w.tokenKey,
    high: w.priority === 'high',
    countToken: w.tokenKey ?? '*',
    countBase: tracked.has(w.base.id) ? w.base.id : '*',
  });

  const finish = (w: FrontWaiter) => {
    w.done = true;
    w.signal?.removeEventListener('abort', onAbortOf.get(w)!);
  };

  const grant = (w: FrontWaiter, delay: number) => {
    const s = w.base;
    s.queue.remove(w);
    s.queue.served(w, ++grants);
    s.sent++;
    s.lastServed = grants;
    if (s.queue.size === 0) busy.delete(s);
    const leave = (d?: Departure) => {
      if (w.done) return false;
      finish(w);
      w.resolve(d);
      return true;
    };
    // It leaves through the pacer: at once, unless an earlier request of the base left late.
    const go = () => (pacer ? pacer.depart(s.id, w.tokenKey, w.reportsAnswer, leave) : void leave());
    if (delay <= 0) return go();
    // A start time ahead (Postgres grants up to a horizon): the slot is this waiter's. An abort
    // meanwhile is handled by the waiter's abort listener (the slot is lost).
    sleep(delay, w.signal).then(go, () => undefined);
  };

  const settle = (ws: FrontWaiter[], answers: ClaimAnswer[]) => {
    const t = now();
    const retry = new Map<BaseState, number>();
    ws.forEach((w, i) => {
      w.inFlight = false;
      if (w.done) return; // aborted meanwhile: a slot granted to it is lost
      const a = answers[i] ?? { delay: null, retry: 100, reason: 'base' as const };
      const s = w.base;
      if (a.delay !== null) return grant(w, a.delay);
      const wait = Math.max(1, a.retry ?? 1);
      // Held by its token: only this waiter waits; others of the base may go on.
      if (a.reason === 'token') w.retryAt = t + wait;
      else retry.set(s, Math.min(retry.get(s) ?? Infinity, wait));
      if (!w.waited) {
        w.waited = true;
        s.waits++;
      }
      if (a.reason === 'token' && !w.heldByToken) {
        w.heldByToken = true;
        s.tokenWaits++;
      }
      if (a.reason === 'penalty') {
        s.blockedUntil = Math.max(s.blockedUntil, t + wait);
        if (w.failWhenPenalized) refuse(w, new BudgetRefusedError('penalty'));
      }
    });
    for (const w of ws) w.base.retryAt = retry.has(w.base) ? t + retry.get(w.base)! : 0;
  };

  const refuse = (w: FrontWaiter, err: unknown) => {
    const s = w.base;
    s.queue.remove(w);
    if (s.queue.size === 0) busy.delete(s);
    finish(w);
    w.reject(err);
  };

  const pump = () => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        while (claims < maxInFlight) {
          const ws = collect(now());
          if (ws.length === 0) break;
          for (const w of ws) w.inFlight = true;
          let answers: ClaimAnswer[] | Promise<ClaimAnswer[]>;
          try {
            answers = opts.authority.claim(ws.map(itemOf), opts.marginMs?.() ?? 0);
          } catch {
            answers = ws.map(() => ({ delay: null, retry: 100 }));
          }
          if (Array.isArray(answers)) {
            settle(ws, answers);
            continue;
          }
          claims++;
          answers
            .catch(() => ws.map(() => ({ delay: null, retry: 100 })))
            .then((a) => settle(ws, a))
            .finally(() => {
              claims--;
              pump();
            });
        }
      } while (again);
    } finally {
      pumping = false;
    }
    arm();
  };

  /** Sleeps until the earliest base worth asking again, or stops sleeping when nobody waits. */
  const arm = () => {
    let next = Infinity;
    for (const s of busy) {
      let soonest = Infinity;
      for (const w of s.queue.all()) if (idle(w)) soonest = Math.min(soonest, w.retryAt);
      if (soonest < Infinity) next = Math.min(next, Math.max(s.retryAt, soonest));
    }
    if (timer && timer.at <= next) {
      if (next === Infinity) {
        timer.ctl.abort();
        timer = null;
      }
      return;
    }
    timer?.ctl.abort();
    timer = null;
    if (next === Infinity || claims >= maxInFlight) return;
    const ctl = new AbortController();
    const mine = { at: next, ctl };
    timer = mine;
    sleep(Math.max(0, next - now()), ctl.signal).then(
      () => {
        if (timer === mine) timer = null;
        pump();
      },
      () => undefined,
    );
  };

  const onAbortOf = new WeakMap<FrontWaiter, () => void>();

  return {
    acquire(baseId, { priority = 'normal', signal, token, client, failWhenPenalized, reportsAnswer } = {}) {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (priority === 'normal') track(baseId);
      const s = stateOf(baseId);
      if (failWhenPenalized && s.blockedUntil > now())
        return Promise.reject(new BudgetRefusedError('penalty'));
      const tokenKey = token ? keyOf(token) : undefined;
      return new Promise<Departure | undefined>((resolve, reject) => {
        const w: FrontWaiter = {
          priority,
          client: client ?? tokenKey ?? '',
          tokenKey,
          failWhenPenalized: failWhenPenalized ?? false,
          inFlight: false,
          waited: false,
          heldByToken: false,
          done: false,
          retryAt: 0,
          base: s,
          signal,
          resolve,
          reject,
          reportsAnswer: reportsAnswer ?? false,
        };
        if (!s.queue.push(w, client !== undefined)) {
          reject(new BudgetRefusedError('queue-full'));
          return;
        }
        busy.add(s);
        const onAbort = () => {
          if (w.done) return;
          if (s.queue.remove(w) && s.queue.size === 0) busy.delete(s);
          finish(w);
          reject(abortReason(signal!));
          arm();
        };
        onAbortOf.set(w, onAbort);
        signal?.addEventListener('abort', onAbort, { once: true });
        // Known to be held back: counted as a wait now, asked again when the authority said.
        if (s.retryAt > now()) {
          w.waited = true;
          s.waits++;
        }
        pump();
      });
    },

    penalize(baseId) {
      // Airtable rate-limits a base it knows: worth its stats (the tracked set stays bounded).
      track(baseId);
      const s = stateOf(baseId);
      const t = now();
      s.rateLimited++;
      if (s.blockedUntil <= t) s.penalties++;
      s.blockedUntil = Math.max(s.blockedUntil, t + penaltyMs);
      s.retryAt = Math.max(s.retryAt, s.blockedUntil);
      authority.penalize(baseId, penaltyMs);
      for (const w of s.queue.all()) {
        if (w.failWhenPenalized && !w.inFlight) refuse(w, new BudgetRefusedError('penalty'));
      }
      arm();
    },

    stats(baseId) {
      const s = bases.get(baseId);
      if (!s) return { ...ZERO_STATS };
      return {
        sent: s.sent,
        waits: s.waits,
        tokenWaits: s.tokenWaits,
        rateLimited: s.rateLimited,
        penalties: s.penalties,
        queued: s.queue.size,
        blockedUntil: s.blockedUntil > now() ? s.blockedUntil : null,
      };
    },

    allStats() {
      return Object.fromEntries([...tracked.keys()].map((id) => [id, this.stats(id)]));
    },

    track,
    heldBases: () => bases.size,
  };
}
