import type { Queryable } from '../db/database.ts';
import { BackgroundLoop, type LoopLog } from '../lifecycle/background-loop.ts';
import { systemNow, systemSleep, type Now } from '../lifecycle/clock.ts';
import { createBudgetFront } from './budget-front.ts';
import { createBudgetStock, type BudgetStock } from './budget-stock.ts';
import type { BudgetAuthority, BudgetRules, ClaimAnswer, ClaimItem, RateBudget } from './budget-types.ts';
import { createBudgetWindows, type BudgetWindows } from './budget-windows.ts';
import { DeparturePacer } from './departure-pacer.ts';
import { OwedCalls } from './owed-calls.ts';
import { budgetRules, type RateBudgetOptions } from './rate-budget.ts';
import { addCallsSql, claimSql, penalizeSql, pruneBudgetSql, rollupCallsSql } from './store.ts';

/**
 * One Airtable request budget for every process and Workers proxy on a Postgres (docs/DESIGN.md
 * invariants 6 and 9): the in-process front (priorities, waiters, fairness) asks Postgres for
 * its slots. Every waiter that is ready, of every base, goes out in one claim — one statement,
 * one round trip (`airmirror.budget_claim`, src/db/migrations/020_budget.ts) — and at most two
 * claims are in flight, so a request waits about one round trip when its base has room.
 * High-priority (proxy) requests may be given a start up to one window ahead, so a burst is
 * booked in one trip; background requests only a start that is due, so they never queue ahead
 * of a proxy request that comes later.
 *
 * A 429 reported by any process blocks the base for everyone (the penalty is a column of the
 * base's row, and every claim reads it).
 *
 * When Postgres does not answer (refused, failed, or no answer within `claimTimeoutMs`), the
 * process goes on with its own windows at a conservative share of the limits (`fallbackShare`,
 * default a fifth: five processes cut off together still stay within Airtable's limits), never
 * stopping the proxy, and tries Postgres again every `retryMs`. Starts granted by Postgres are
 * also kept in those windows, so the fallback starts where the shared budget left off.
 */
export interface SharedBudgetOptions extends RateBudgetOptions {
  /** A connection pool of its own is best: claims should not queue behind long transactions. */
  db: Queryable;
  log?: LoopLog & { info?(obj: object, msg: string): void };
  /**
   * Whose clock times the windows. 'postgres' (default): the server's, which every process and
   * Worker agrees on. 'local': `now` — for tests on a virtual clock.
   */
  clock?: 'postgres' | 'local';
  /** The share of the limits a process takes while Postgres is away. Default 0.2. */
  fallbackShare?: number;
  claimTimeoutMs?: number;
  /** While Postgres is away: how often to try it again. Default 2 s. */
  retryMs?: number;
  /** Counts rolled up, idle rows pruned, every this many ms. Default 5 s. */
  maintenanceMs?: number;
  /** Each claim's round trip, for metrics (`degraded`: answered by the fallback). */
  onClaim?(e: { ms: number; items: number; degraded: boolean }): void;
  /**
   * How late this process may start a granted request: its event loop's recent lag (Node:
   * process-budget.ts measures it). Every base's window is lengthened by the largest margin any
   * process reported for it lately. Default none.
   */
  marginMs?: () => number;
  /**
   * Hand out high-priority slots from a stock leased ahead (budget-stock.ts), so a proxy request
   * rarely waits on a round trip. Default off; `airmirror start` turns it on (process-budget.ts).
   */
  stock?: boolean | { leaseMs?: number; tickMs?: number };
}

export interface SharedBudget extends RateBudget {
  /** Starts the maintenance loop (counts, pruning, penalties owed to Postgres, recovery). */
  start(): void;
  /** Stops it, after one last flush of the counts. */
  stop(): Promise<void>;
  /** True while Postgres does not answer and the process runs on its fallback share. */
  degraded(): boolean;
  /** One maintenance pass now (tests; `stop` runs one too). */
  maintain(): Promise<void>;
  /** Slots per window leased to this process, per key (empty without stock). */
  stock(): Record<string, number>;
  /** Requests granted but held before leaving (departure-pacer.ts), since the start. */
  paced(): number;
}

export const DEFAULT_CLAIM_TIMEOUT_MS = 1_000;
/** Budget rows unused this long are deleted (well past any window, horizon or demand mark). */
const IDLE_ROW_MS = 60_000;

/**
 * The rules of a shared budget: high-priority starts may be booked one window ahead; starts of a
 * base are spaced by a quarter of their even share of the window (52 ms at 5 requests/s), those
 * of a token likewise (see BudgetRules.baseGapMs).
 */
export function sharedRules(opts: RateBudgetOptions): BudgetRules {
  const { windowMs, perSecond, perTokenPerSecond } = budgetRules(opts);
  return budgetRules(opts, {
    highHorizonMs: windowMs,
    normalHorizonMs: 10,
    baseGapMs: Math.floor(windowMs / perSecond / 4),
    tokenGapMs: Math.floor(windowMs / perTokenPerSecond / 4),
  });
}

/** The same rules at a share of the limits, for a process cut off from Postgres. */
export function fallbackRules(rules: BudgetRules, share: number): BudgetRules {
  return {
    ...rules,
    perSecond: Math.max(1, Math.floor(rules.perSecond * share)),
    perTokenPerSecond: Math.max(1, Math.floor(rules.perTokenPerSecond * share)),
    headroom: rules.perSecond * share >= 2 ? rules.headroom : 0,
    // The share's starts are few: spaced by the share's own rhythm, as the shared ones are.
    baseGapMs: Math.floor(rules.windowMs / Math.max(1, Math.floor(rules.perSecond * share)) / 4),
    tokenGapMs: Math.floor(rules.windowMs / Math.max(1, Math.floor(rules.perTokenPerSecond * share)) / 4),
  };
}

export interface PostgresAuthority extends BudgetAuthority {
  /** Answers at once (an array) when the stock served every item; otherwise after Postgres did. */
  claim(items: ClaimItem[], marginMs?: number): ClaimAnswer[] | Promise<ClaimAnswer[]>;
  /** `penalize`, resolving once Postgres has it (or the outage was noted): for Workers' waitUntil. */
  penalizeNow(baseId: string, ms: number): Promise<void>;
  degraded(): boolean;
  maintain(): Promise<void>;
  /** The in-process windows (fallback and the record of Postgres' grants). */
  readonly windows: BudgetWindows;
}

/** Claims through Postgres, with the in-process fallback; shared by the Node front and Workers. */
export function createPostgresAuthority(opts: {
  db: Queryable;
  rules: BudgetRules;
  now: Now;
  clock: 'postgres' | 'local';
  fallbackShare?: number;
  claimTimeoutMs?: number;
  retryMs?: number;
  log?: SharedBudgetOptions['log'];
  onClaim?: SharedBudgetOptions['onClaim'];
  /** An existing fallback (Workers keep one per isolate). */
  windows?: BudgetWindows;
  /**
   * This process's name in the budget: alone on a base, its claims leave its own lag margin out,
   * as it paces its own departures (departure-pacer.ts; migration 062). Without: unnamed (Workers).
   */
  holder?: string;
  /** This process's stock (high priority only), tried before Postgres; it shares the fallback's
   * windows and the time the authority passes to Postgres. */
  stock?: (windows: BudgetWindows, pgNow: () => number | null) => BudgetStock;
}): PostgresAuthority & { stock?: BudgetStock } {
  const { db, rules, now, log } = opts;
  const windows = opts.windows ?? createBudgetWindows(fallbackRules(rules, opts.fallbackShare ?? 0.2), now);
  const timeoutMs = opts.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;
  const retryMs = opts.retryMs ?? 2_000;
  const pgNow = () => (opts.clock === 'local' ? now() : null);
  const stock = opts.stock?.(windows, pgNow);
  let downUntil = 0;
  let down = false;
  /** Calls the fallback granted, owed to the month's counts. */
  const owedCalls = new OwedCalls();
  /** Penalties Postgres has not taken yet: base → until (local clock). */
  const owedPenalties = new Map<string, number>();

  const wentDown = (err: unknown) => {
    downUntil = now() + retryMs;
    if (!down) {
      down = true;
      log?.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'request budget: Postgres did not answer; going on with this process’s share',
      );
    }
  };
  const cameBack = () => {
    if (!down) return;
    down = false;
    downUntil = 0;
    log?.info?.({}, 'request budget: Postgres answers again; the shared budget is back');
  };

  const fallback = (items: ClaimItem[], marginMs: number): ClaimAnswer[] => {
    const answers = windows.claim(items, marginMs);
    answers.forEach((a, i) => {
      if (a.delay === null) return;
      owedCalls.add(items[i]);
    });
    return answers;
  };

  const sendPenalties = async () => {
    for (const [baseId, until] of owedPenalties) {
      const left = until - now();
      if (left > 0) await db.query(penalizeSql(baseId, left, pgNow()));
      owedPenalties.delete(baseId);
    }
  };

  /** Items the stock could not serve go to Postgres; answers merged back in order. */
  const claim = (items: ClaimItem[], marginMs: number): ClaimAnswer[] | Promise<ClaimAnswer[]> => {
    if (!stock) return remote(items, marginMs);
    const answers: Array<ClaimAnswer | undefined> = items.map((item) =>
      stock.take(item, marginMs) ? { delay: 0 } : undefined,
    );
    const rest = items.filter((_, i) => answers[i] === undefined);
    if (rest.length === 0) return answers as ClaimAnswer[];
    return remote(rest, marginMs).then((got) => {
      let k = 0;
      return answers.map((a, i) => {
        if (a) return a;
        const b = got[k++];
        if (b.delay !== null || b.reason === 'penalty') return b;
        // Held back by Postgres while this process's stock frees a slot sooner: ask again then.
        const w = stock.wait(items[i], marginMs);
        return w < (b.retry ?? Infinity) ? { ...b, retry: Math.max(1, w) } : b;
      });
    });
  };

  const remote = async (items: ClaimItem[], marginMs: number): Promise<ClaimAnswer[]> => {
    const started = now();
    if (started < downUntil) {
      opts.onClaim?.({ ms: 0, items: items.length, degraded: true });
      return fallback(items, marginMs);
    }
    const t0 = performance.now();
    try {
      const r = await deadline(
        db.query<ClaimRow>(claimSql(items, rules, pgNow(), marginMs, opts.holder ?? null)),
        timeoutMs,
      );
      const at = now();
      const answers = r.rows.map((row): ClaimAnswer => {
        if (row.delay !== null) return { delay: row.delay };
        return {
          delay: null,
          retry: row.retry ?? 1,
          reason: (row.reason ?? 'base') as ClaimAnswer['reason'],
        };
      });
      answers.forEach((a, i) => {
        if (a.delay !== null) windows.record(items[i], at + a.delay);
        else if (a.reason === 'penalty') windows.penalize(items[i].baseId, a.retry ?? 0);
      });
      opts.onClaim?.({ ms: performance.now() - t0, items: items.length, degraded: false });
      cameBack();
      return answers;
    } catch (err) {
      wentDown(err);
      opts.onClaim?.({ ms: performance.now() - t0, items: items.length, degraded: true });
      return fallback(items, marginMs);
    }
  };

  return {
    windows,
    stock,
    degraded: () => down,
    claim: (items, marginMs = 0) => claim(items, marginMs),
    penalize(baseId, ms) {
      this.penalizeNow(baseId, ms).catch(() => undefined);
    },
    async penalizeNow(baseId, ms) {
      windows.penalize(baseId, ms);
      stock?.drop(baseId);
      owedPenalties.set(baseId, Math.max(owedPenalties.get(baseId) ?? 0, now() + ms));
      if (down) return;
      await sendPenalties().catch(wentDown);
    },
    async maintain() {
      try {
        await sendPenalties();
        if (owedCalls.size > 0) {
          const rows = owedCalls.take();
          try {
            await db.query(addCallsSql(rows, pgNow()));
          } catch (err) {
            owedCalls.giveBack(rows);
            throw err;
          }
        }
        await db.query(rollupCallsSql());
        await db.query(pruneBudgetSql(IDLE_ROW_MS, pgNow()));
        cameBack();
      } catch (err) {
        wentDown(err);
        throw err;
      }
    },
  };
}

interface ClaimRow {
  delay: number | null;
  retry: number | null;
  reason: string | null;
}

export function createSharedBudget(opts: SharedBudgetOptions): SharedBudget {
  const rules = sharedRules(opts);
  const now = opts.now ?? systemNow;
  const holder = globalThis.crypto.randomUUID();
  const authority = createPostgresAuthority({
    holder,
    db: opts.db,
    rules,
    now,
    clock: opts.clock ?? 'postgres',
    fallbackShare: opts.fallbackShare,
    claimTimeoutMs: opts.claimTimeoutMs,
    retryMs: opts.retryMs,
    log: opts.log,
    onClaim: opts.onClaim,
    stock: opts.stock
      ? (windows, pgNow) =>
          createBudgetStock({
            db: opts.db,
            rules,
            now,
            sleep: opts.sleep ?? systemSleep,
            pgNow,
            windows,
            log: opts.log,
            holder,
            ...(typeof opts.stock === 'object' ? opts.stock : {}),
          })
      : undefined,
  });
  // This process's own departures, spaced as they really leave (its claims carry its name).
  const pacer = new DeparturePacer({
    perBase: rules.perSecond,
    perToken: rules.perTokenPerSecond,
    windowMs: rules.windowMs,
    now,
    sleep: opts.sleep ?? systemSleep,
  });
  const front = createBudgetFront({
    authority,
    perSecond: rules.perSecond,
    penaltyMs: rules.penaltyMs,
    now,
    sleep: opts.sleep ?? systemSleep,
    maxTrackedBases: opts.maxTrackedBases,
    maxQueuedPerClient: opts.maxQueuedPerClient,
    marginMs: opts.marginMs,
    pacer,
  });
  const maintenanceMs = opts.maintenanceMs ?? 5_000;
  const retryMs = opts.retryMs ?? 2_000;
  const loop = new BackgroundLoop({
    name: 'request budget upkeep',
    intervalMs: maintenanceMs,
    retryMs,
    maxRetryMs: retryMs,
    log: opts.log,
    // A pass never throws: the authority logs an outage once, and the loop then comes back
    // every `retryMs` to try Postgres again.
    pass: async () => {
      try {
        await authority.maintain();
        return undefined;
      } catch {
        return retryMs;
      }
    },
  });
  return {
    ...front,
    allStats: () => front.allStats(),
    start: () => loop.start(),
    async stop() {
      await authority.stock?.stop().catch(() => undefined);
      await loop.stop();
      await authority.maintain().catch(() => undefined);
    },
    degraded: () => authority.degraded(),
    maintain: () => authority.maintain(),
    stock: () => authority.stock?.held() ?? {},
    paced: () => pacer.holds,
  };
}

/** Rejects when `p` has not settled within `ms` (real time: it bounds I/O); `p` runs on. */
function deadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Postgres within ${ms} ms`)), ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
