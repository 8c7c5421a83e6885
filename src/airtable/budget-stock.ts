import type { Queryable } from '../db/database.ts';
import { BackgroundLoop } from '../lifecycle/background-loop.ts';
import type { Now, Sleep } from '../lifecycle/clock.ts';
import type { BudgetRules, ClaimItem } from './budget-types.ts';
import type { BudgetWindows } from './budget-windows.ts';
import { OwedCalls } from './owed-calls.ts';
import { leaseSql, type LeaseRow } from './store.ts';

/**
 * A process's stock of the shared budget (issue 12: "granted in small batches so a request rarely
 * waits on a round trip"): leases of a few slots per window of a base and of a token
 * (`airmirror.budget_lease`, src/db/migrations/021_budget_stock.ts), handed out here to
 * high-priority (proxy) requests with no round trip, through this process's own sliding window
 * of the lease's size. A request the stock cannot serve goes to Postgres as before, and asks for
 * stock: the next ones find it.
 *
 * Leases are short (`leaseMs`) and renewed while used, in one statement for all of them, off
 * the request path; the size follows the use (the last period's demand per window, and a quarter
 * more); a lease idle since its last renewal shrinks to one slot, and one idle for `idleMs` is
 * given back; its slots are everyone's a window later. Postgres refuses to renew a lease of a penalized base, and a 429 seen here drops the
 * base's lease at once: a 429 seen anywhere stops every holder within one renewal.
 *
 * The calls granted from stock are counted with the next lease statement (as `budget_claim`
 * counts its own).
 */
export interface BudgetStock {
  /** Serves a high-priority item from stock now (true), or notes the demand (false). */
  take(item: ClaimItem, marginMs: number): boolean;
  /**
   * Ms until the stock may serve this item (its window has room), or Infinity: a request Postgres
   * held back is asked for again then, not only when Postgres said.
   */
  wait(item: ClaimItem, marginMs: number): number;
  /** A 429 for this base: its stock is not to be used. */
  drop(baseId: string): void;
  /** Gives every lease back and counts what was granted (at shutdown). */
  stop(): Promise<void>;
  /** Slots per window held, per key (`b:<base>`, `t:<token key>`); for tests and metrics. */
  held(): Record<string, number>;
}

export interface BudgetStockOptions {
  db: Queryable;
  rules: BudgetRules;
  now: Now;
  sleep: Sleep;
  /** The time passed to Postgres (tests on a virtual clock), or null for the server's. */
  pgNow(): number | null;
  /** In-process windows: starts from stock are recorded there (the fallback counts them), and
   * their penalties are honoured. */
  windows: BudgetWindows;
  /** A lease's life (ms). Default 600. */
  leaseMs?: number;
  /** How often leases are looked at (renewed in their second half, given back when idle). Default 100. */
  tickMs?: number;
  /** A lease nobody used this long is given back; until then one slot is kept. Default 1,500. */
  idleMs?: number;
  holder?: string;
  log?: { warn(obj: object, msg: string): void };
}

interface Lease {
  n: number;
  /** Local time until which it may be used (sent time + the lease's ms: never past Postgres' end). */
  deadline: number;
  /** Starts handed out from it, local time, the last window's. */
  starts: number[];
  /** Demand since the last renewal: served, and missed (sent to Postgres for lack of stock). */
  used: number;
  missed: number;
  since: number;
  /** Local time of the last request that wanted it. */
  lastDemand: number;
}

export const DEFAULT_LEASE_MS = 600;

export function createBudgetStock(opts: BudgetStockOptions): BudgetStock {
  const { db, rules, now, sleep, windows } = opts;
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const tickMs = opts.tickMs ?? 100;
  const idleMs = opts.idleMs ?? 1_500;
  const holder = opts.holder ?? globalThis.crypto.randomUUID();
  const leases = new Map<string, Lease>();
  /** Keys with demand and no lease: demand since first missed. */
  const wanted = new Map<string, { missed: number; since: number }>();
  /** Calls served from stock, to count with the next lease statement. */
  const owed = new OwedCalls();
  let asking: Promise<void> | null = null;
  let stopped = false;

  const capOf = (key: string) =>
    key.startsWith('b:')
      ? Math.max(0, rules.perSecond - rules.headroom)
      : Math.max(0, rules.perTokenPerSecond - 1);

  /** Slots per window to ask for, after `demand` in `elapsed` ms: that rate per window and a quarter more. */
  const sizeFor = (key: string, demand: number, elapsed: number) => {
    const perWindow = (demand * rules.windowMs) / Math.max(elapsed, tickMs);
    return Math.min(capOf(key), Math.max(1, Math.ceil(perWindow * 1.25)));
  };

  const usable = (l: Lease | undefined, t: number, win: number): l is Lease => {
    if (!l || t >= l.deadline) return false;
    while (l.starts.length > 0 && l.starts[0] <= t - win) l.starts.shift();
    return l.starts.length < l.n;
  };

  const note = (key: string, t: number) => {
    const l = leases.get(key);
    if (l) {
      l.missed++;
      l.lastDemand = t;
    } else {
      const w = wanted.get(key);
      if (w) w.missed++;
      else wanted.set(key, { missed: 1, since: t });
    }
  };

  /** One lease statement: renewals due, give-backs, new stock wanted, the counts owed. */
  const ask = async (all: boolean): Promise<void> => {
    if (asking) return asking;
    const t = now();
    const keys: string[] = [];
    const want: number[] = [];
    for (const [key, l] of leases) {
      if (!all && l.deadline - t > leaseMs / 2) continue;
      const demand = l.used + l.missed;
      // Idle since the last renewal: one slot kept a while for the next request, then none.
      const n =
        all || t - l.lastDemand >= idleMs
          ? 0
          : demand === 0
            ? Math.min(l.n, 1)
            : sizeFor(key, demand, t - l.since);
      // Asking for less: it stops using what it has now (Postgres counts it a window from now).
      if (n < l.n) l.deadline = Math.min(l.deadline, t);
      keys.push(key);
      want.push(n);
    }
    if (!all) {
      for (const [key, w] of wanted) {
        if (leases.has(key)) continue;
        keys.push(key);
        want.push(sizeFor(key, w.missed, t - w.since));
      }
    }
    wanted.clear();
    const counts = owed.take();
    if (keys.length === 0 && counts.length === 0) return;
    asking = (async () => {
      try {
        const r = await db.query<LeaseRow>(
          leaseSql({ holder, keys, want, counts, rules, leaseMs, now: opts.pgNow() }),
        );
        for (const row of r.rows) {
          const old = leases.get(row.key);
          if (row.blocked > 0 && row.key.startsWith('b:')) windows.penalize(row.key.slice(2), row.blocked);
          if (row.granted <= 0) {
            leases.delete(row.key);
            continue;
          }
          leases.set(row.key, {
            n: row.granted,
            deadline: t + row.ms,
            starts: old?.starts ?? [],
            used: 0,
            missed: 0,
            since: t,
            lastDemand: old?.lastDemand ?? t,
          });
        }
      } catch (err) {
        // Leases lapse at their deadlines; the counts are owed again, the demand noted anew.
        owed.giveBack(counts);
        opts.log?.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'request budget: stock not renewed',
        );
      } finally {
        asking = null;
      }
    })();
    return asking;
  };

  /**
   * The renewals run only while there is something to renew, give back, ask for or count: idle,
   * the loop waits for demand. Demand that wakes it is asked for a tick later, in one statement
   * with the tick's other demand and off the path of the request that woke it; a take while the
   * loop ticks only adds to the next statement's demand (a nudge then would cost a statement).
   */
  let phase: 'idle' | 'woken' | 'ticking' = 'idle';
  const loop = new BackgroundLoop({
    name: 'request budget stock',
    intervalMs: tickMs,
    // Asleep until the first demand.
    initialDelayMs: Infinity,
    log: opts.log,
    sleep: (ms, signal) => sleep(ms, signal).catch(() => undefined),
    pass: async () => {
      if (phase === 'woken') {
        phase = 'ticking';
        return tickMs;
      }
      await ask(false);
      if (leases.size > 0 || wanted.size > 0 || owed.size > 0) return tickMs;
      phase = 'idle';
      return Infinity;
    },
  });
  loop.start();
  const wake = () => {
    if (phase !== 'idle' || stopped) return;
    phase = 'woken';
    loop.nudge();
  };

  return {
    take(item, marginMs) {
      if (!item.high || stopped) return false;
      const t = now();
      const win = rules.windowMs + marginMs;
      const bKey = `b:${item.baseId}`;
      const tKey = item.tokenKey === undefined ? undefined : `t:${item.tokenKey}`;
      const b = leases.get(bKey);
      const tk = tKey === undefined ? undefined : leases.get(tKey);
      const ok =
        windows.blockedUntil(item.baseId) <= t &&
        usable(b, t, win) &&
        (tKey === undefined || usable(tk, t, win));
      if (!ok) {
        note(bKey, t);
        if (tKey !== undefined) note(tKey, t);
        wake();
        return false;
      }
      b.starts.push(t);
      b.used++;
      b.lastDemand = t;
      if (tk) {
        tk.starts.push(t);
        tk.used++;
        tk.lastDemand = t;
      }
      windows.record(item, t);
      owed.add(item);
      wake();
      return true;
    },
    wait(item, marginMs) {
      if (!item.high || stopped) return Infinity;
      const t = now();
      const win = rules.windowMs + marginMs;
      const free = (key: string | undefined): number => {
        if (key === undefined) return 0;
        const l = leases.get(key);
        if (!l || t >= l.deadline) return Infinity;
        const k = l.starts.length - l.n;
        const at = k < 0 ? t : l.starts[k] + win;
        return at < l.deadline ? Math.max(0, at - t) : Infinity;
      };
      return Math.max(
        free(`b:${item.baseId}`),
        free(item.tokenKey === undefined ? undefined : `t:${item.tokenKey}`),
      );
    },
    drop(baseId) {
      const l = leases.get(`b:${baseId}`);
      if (l) l.deadline = Math.min(l.deadline, now());
    },
    async stop() {
      stopped = true;
      await loop.stop();
      await asking;
      await ask(true);
      leases.clear();
    },
    held: () =>
      Object.fromEntries([...leases].filter(([, l]) => l.deadline > now()).map(([k, l]) => [k, l.n])),
  };
}
